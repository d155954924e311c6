-- The refresh loop sleeps until the next due time it knows of. When any Broker
-- stores a credential due soon (a short-lived token), every Broker's loop is
-- woken, so none sleeps past it. Far-off due times need no wake-up.
create function nexus_notify_refresh_due() returns trigger language plpgsql as $$
begin
  perform pg_notify('nexus_refresh', '');
  return null;
end $$;

create trigger credentials_refresh_due
  after insert or update of refresh_due_at, next_attempt_at on credentials
  for each row
  when (new.refresh_due_at is not null and new.refresh_due_at < now() + interval '30 seconds')
  execute function nexus_notify_refresh_due();

-- Housekeeping finds lapsed handshakes by expiry.
create index connections_status on connections (status);

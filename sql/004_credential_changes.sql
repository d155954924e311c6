-- Brokers keep recently opened credentials in memory for a few seconds (the
-- token cache). Whatever changes what GetToken would answer must reach every
-- Broker at once: a new credential (refresh, rewrap), a status change
-- (revoked, attention required) or a deleted row names its connection; a
-- provider change may alter every answer (strategy), so it clears all ("*").
-- Lease bookkeeping on credentials changes no answer and stays silent.
create function nexus_notify_credential_change() returns trigger language plpgsql as $$
begin
  if tg_table_name = 'providers' then
    perform pg_notify('nexus_credentials', '*');
  elsif tg_table_name = 'credentials' then
    perform pg_notify('nexus_credentials', old.connection_id::text);
  else
    perform pg_notify('nexus_credentials', old.id::text);
  end if;
  return null;
end $$;

create trigger credentials_answer_changed
  after update on credentials
  for each row
  when (old.version is distinct from new.version or old.secret_ct is distinct from new.secret_ct
        or old.expires_at is distinct from new.expires_at)
  execute function nexus_notify_credential_change();

create trigger credentials_deleted
  after delete on credentials
  for each row execute function nexus_notify_credential_change();

create trigger connections_status_changed
  after update on connections
  for each row
  when (old.status is distinct from new.status or old.provider_id is distinct from new.provider_id)
  execute function nexus_notify_credential_change();

create trigger connections_deleted
  after delete on connections
  for each row execute function nexus_notify_credential_change();

create trigger providers_changed
  after update or delete on providers
  for each row execute function nexus_notify_credential_change();

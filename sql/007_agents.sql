-- Agent identity (issue 16): registered agents with their own credentials,
-- and the access boundary between them.
--
-- An agent's API key is stored only as its SHA-256 digest (hex); the key
-- itself is shown once, when it is made. `jwks` holds the public keys its
-- signed assertions are checked with. A disabled agent keeps its row (the
-- audit log names it) but no credential of it works any more.
create table agents (
  id                uuid primary key,
  name              text not null check (name ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and length(name) <= 64),
  description       text not null default '',
  allowed_providers text[] not null default '{}',
  jwks              jsonb,
  key_digest        text check (key_digest ~ '^[0-9a-f]{64}$'),
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now(),
  disabled_at       timestamptz,
  version           bigint not null default 1
);
-- Names are unique among agents that are not disabled.
create unique index agents_live_name on agents (name) where disabled_at is null;

-- The agent that started a connection may use it; other agents may not.
-- Null: started by an operator or an unscoped key (AGENT_API_KEYS).
alter table connections add column agent_id uuid references agents (id);
create index connections_resolve_agent on connections (workspace_id, provider_id, agent_id, created_at desc) where status = 'active';

-- Assertion ids seen, so each signed assertion works once, on every Gateway.
-- Kept until the assertion expires; housekeeping deletes the rest.
create table agent_assertions_seen (
  agent_id   uuid not null,
  jti        text not null check (length(jti) between 1 and 256),
  expires_at timestamptz not null,
  primary key (agent_id, jti)
);
create index agent_assertions_seen_expiry on agent_assertions_seen (expires_at);

-- Every audit event of an agent's call names the agent.
alter table audit_events add column agent_id uuid;
create index audit_events_agent on audit_events (agent_id, id desc) where agent_id is not null;

-- A changed or disabled agent must stop working at once on every Broker: each
-- Broker keeps agents in memory and drops one when it hears its id here.
create function nexus_notify_agent_change() returns trigger language plpgsql as $$
begin
  perform pg_notify('nexus_credentials', 'agent:' || old.id::text);
  return null;
end $$;

create trigger agents_changed
  after update or delete on agents
  for each row execute function nexus_notify_agent_change();

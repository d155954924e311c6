-- Agent sessions and on-behalf-of delegation (issue 17).
--
-- A session lets one agent act for a workspace on one connection within a
-- fixed clearance: scopes, hosts, an expiry. A child is delegated from a
-- parent and fits inside it. Rows are never changed except to revoke them;
-- expired and revoked ones stay for the audit trail until housekeeping prunes
-- them.
create table sessions (
  id                 uuid primary key,
  connection_id      uuid not null references connections (id) on delete cascade,
  workspace_id       text not null,
  -- The agent holding it (act.sub of its token).
  agent_id           uuid not null references agents (id),
  -- The agent that delegated it; null when an operator or an unscoped key did.
  delegated_by_agent uuid references agents (id),
  delegated_by       text not null,
  parent_id          uuid references sessions (id) on delete cascade,
  scopes             text[] not null,
  allowed_hosts      text[] not null default '{}',
  -- The delegation chain as it appears in the token's `act` claim.
  act                jsonb not null,
  created_at         timestamptz not null default now(),
  expires_at         timestamptz not null,
  revoked_at         timestamptz
);
create index sessions_parent on sessions (parent_id) where parent_id is not null;
create index sessions_connection on sessions (connection_id, created_at desc);
create index sessions_agent on sessions (agent_id, created_at desc);
create index sessions_delegator on sessions (delegated_by_agent, created_at desc) where delegated_by_agent is not null;
create index sessions_expiry on sessions (expires_at);

-- The keys that sign session tokens. The newest signs; older ones are
-- published until every token they signed has expired. Private halves are
-- sealed by the vault (key_id names the vault key, as elsewhere).
create table session_signing_keys (
  kid            text primary key,
  alg            text not null,
  public_jwk     jsonb not null,
  key_id         text not null,
  private_jwk_ct text not null,
  created_at     timestamptz not null default now()
);
create index session_signing_keys_key_id on session_signing_keys (key_id);

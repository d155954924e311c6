-- Nexus schema, version 1.
--
-- Every secret is a vault ciphertext (text `nx1.<kid>.<nonce>.<body>`) whose
-- associated data binds it to its table, row and column; `key_id` names the
-- key that sealed the row's ciphertexts so the Broker can refuse to start when
-- a key is missing, and a rewrap can find rows sealed under an old key.
-- `version` columns are bumped by every write and used for compare-and-set.

create table providers (
  id                 uuid primary key,
  name               text not null check (name ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and length(name) <= 64),
  auth_type          text not null check (auth_type in
                       ('oauth2', 'api_key', 'basic_auth', 'header', 'query_param', 'hmac_payload', 'aws_sigv4')),
  client_id          text not null default '',
  client_secret_ct   text,
  key_id             text,
  issuer             text not null default '',
  enable_discovery   boolean not null default false,
  auth_url           text not null default '',
  token_url          text not null default '',
  scopes             text[] not null default '{}',
  params             jsonb not null default '{}',
  description        text not null default '',
  category           text not null default '',
  api_base_url       text not null default '',
  user_info_endpoint text not null default '',
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now(),
  deleted_at         timestamptz,
  version            bigint not null default 1,
  check ((client_secret_ct is null) = (key_id is null))
);
-- Names are unique among live providers; a deleted provider frees its name.
create unique index providers_live_name on providers (name) where deleted_at is null;
create index providers_key_id on providers (key_id) where key_id is not null;

create table provider_aliases (
  alias       text primary key check (alias ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and length(alias) <= 64),
  provider_id uuid not null references providers (id) on delete cascade
);
create index provider_aliases_provider on provider_aliases (provider_id);

create table connections (
  id             uuid primary key,
  workspace_id   text not null check (length(workspace_id) between 1 and 256),
  provider_id    uuid not null references providers (id),
  status         text not null default 'pending'
                   check (status in ('pending', 'active', 'failed', 'attention_required', 'revoked')),
  status_reason  text not null default '',
  scopes         text[] not null default '{}',
  granted_scopes text[] not null default '{}',
  return_url     text not null,
  created_by     text not null default '',
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now(),
  -- While pending: when the handshake lapses and the connection becomes failed.
  pending_until  timestamptz,
  version        bigint not null default 1
);
-- ResolveToken: a workspace's newest active connection to a provider.
create index connections_resolve on connections (workspace_id, provider_id, created_at desc) where status = 'active';
create index connections_pending on connections (pending_until) where status = 'pending';
create index connections_newest on connections (created_at desc, id desc);

-- The usable credential of a connection. One row per connection, written with
-- compare-and-set on `version`.
create table credentials (
  connection_id   uuid primary key references connections (id) on delete cascade,
  key_id          text not null,
  -- JSON object of the agent-facing fields (access_token, token_type, scope; or the captured fields).
  secret_ct       text not null,
  -- The refresh token. It never leaves the Broker.
  refresh_ct      text,
  -- When the access token expires; null when it does not.
  expires_at      timestamptz,
  version         bigint not null default 1,
  refreshed_at    timestamptz,
  -- Refresh engine: when the next refresh is due (null: never), who holds the
  -- lease and until when, and the failure bookkeeping of transient errors.
  refresh_due_at  timestamptz,
  lease_owner     text,
  lease_until     timestamptz,
  failure_count   integer not null default 0,
  failing_since   timestamptz,
  next_attempt_at timestamptz,
  last_error      text not null default ''
);
create index credentials_due on credentials (refresh_due_at) where refresh_due_at is not null;
create index credentials_key_id on credentials (key_id);

-- Handshakes in flight. A row is consumed (deleted) by the first callback or
-- capture that presents its state, which makes every state single use.
create table handshakes (
  id            uuid primary key,
  connection_id uuid not null references connections (id) on delete cascade,
  provider_id   uuid not null references providers (id),
  kind          text not null check (kind in ('oauth2', 'capture')),
  key_id        text,
  verifier_ct   text,
  nonce         text not null default '',
  issuer        text not null default '',
  redirect_uri  text not null default '',
  return_url    text not null,
  expires_at    timestamptz not null,
  created_at    timestamptz not null default now(),
  check ((verifier_ct is null) = (key_id is null))
);
create index handshakes_expiry on handshakes (expires_at);
create index handshakes_key_id on handshakes (key_id) where key_id is not null;

-- The audit log. No foreign keys: an event about a connection that does not
-- exist (a probe with a made-up id) is still recorded.
create table audit_events (
  id            bigint generated always as identity primary key,
  occurred_at   timestamptz not null default now(),
  event_type    text not null,
  connection_id uuid,
  provider_id   uuid,
  provider_name text not null default '',
  caller        text not null default '',
  outcome       text not null check (outcome in ('success', 'failure')),
  reason        text not null default '',
  details       jsonb not null default '{}'
);
create index audit_events_connection on audit_events (connection_id, id desc) where connection_id is not null;
create index audit_events_type on audit_events (event_type, id desc);
create index audit_events_occurred on audit_events (occurred_at);

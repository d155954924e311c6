-- Key check values and the rewrap quarantine (issue 14).
--
-- One check value per key id, written by the first Broker (or rewrap) that
-- starts with that key id: an HMAC of a fixed label under a subkey HKDF-derived
-- from the master key for this purpose alone, so it reveals nothing about the
-- key or the data key. A process whose key material under a known id gives
-- another value refuses to start, before it seals anything the other
-- processes could never open.
create table vault_key_checks (
  key_id      text primary key,
  check_value text not null,
  created_at  timestamptz not null default now()
);

-- Rows `make rewrap` could not open (wrong key, corrupted or malformed
-- ciphertext). They are left as they were and listed here for the operator;
-- a later rewrap forgets a row once it is gone or sealed under the active key.
-- Never any ciphertext or plaintext: `detail` is the vault's error message,
-- which names the table, field, row and key id only.
create table vault_quarantine (
  kind        text not null check (kind in ('provider_client_secret', 'credential', 'handshake_verifier')),
  row_id      text not null,
  key_id      text not null,
  reason      text not null,
  detail      text not null default '',
  detected_at timestamptz not null default now(),
  primary key (kind, row_id)
);

-- RFC 9207: a provider whose metadata says it always sends `iss` in the
-- authorization response makes a callback without one an attack, not a quirk.
alter table handshakes add column iss_required boolean not null default false;

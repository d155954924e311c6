import { NexusError } from "../../shared/errors.ts";
import type { SealedColumnKind, SealedValueStore, UnopenableRow } from "../domain/ports.ts";
import type { Sql } from "../db/sql.ts";
import { sealedFields } from "../domain/sealed-fields.ts";

/** Key usage and rewrap over every sealed column. */
export function createSealedValueRepository(sql: Sql): SealedValueStore {
  return {
    async keyIdsInUse() {
      const rows = await sql<{ keyId: string }[]>`
        select key_id from providers where key_id is not null
        union select key_id from credentials
        union select key_id from handshakes where key_id is not null
        union select key_id from session_signing_keys`;
      return rows.map((r) => r.keyId).sort();
    },
    async rewrapBatch(kind, rewrapper, { limit, exclude }) {
      const active = rewrapper.activeKeyId;
      const unopenable: UnopenableRow[] = [];
      const attempt = <T>(row: { id: string; keyId: string }, rewrap: () => T) => tryRewrap(kind, row, unopenable, rewrap);
      const moved = await sql.begin(async (tx) => {
        let moved = 0;
        switch (kind) {
          case "provider_client_secret": {
            const rows = await tx<{ id: string; keyId: string; clientSecretCt: string }[]>`
              select id::text, key_id, client_secret_ct from providers
              where key_id is not null and key_id <> ${active} and id::text <> all(${exclude as string[]}::text[])
              order by id limit ${limit} for update skip locked`;
            for (const r of rows) {
              const ct = attempt(r, () => rewrapper.rewrap(r.clientSecretCt, { ...sealedFields.providerClientSecret, rowId: r.id }));
              if (ct === undefined) continue;
              // providers.version guards admin edits (optimistic updates), so a rewrap bumps it like any other write.
              await tx`update providers set client_secret_ct = ${ct}, key_id = ${active}, version = version + 1 where id = ${r.id}`;
              moved++;
            }
            return moved;
          }
          case "credential": {
            // A live lease means a refresh is in flight: leave the row to it and come back later.
            const rows = await tx<{ id: string; keyId: string; secretCt: string; refreshCt: string | null }[]>`
              select connection_id::text as id, key_id, secret_ct, refresh_ct from credentials
              where key_id <> ${active} and (lease_until is null or lease_until <= now())
                and connection_id::text <> all(${exclude as string[]}::text[])
              order by connection_id limit ${limit} for update skip locked`;
            for (const r of rows) {
              const cts = attempt(r, () => [
                rewrapper.rewrap(r.secretCt, { ...sealedFields.credentialSecret, rowId: r.id }),
                r.refreshCt === null ? null : rewrapper.rewrap(r.refreshCt, { ...sealedFields.credentialRefreshToken, rowId: r.id }),
              ] as const);
              if (cts === undefined) continue;
              // No version bump: the refresh engine reads a new version as "the tokens changed", and these did not.
              await tx`update credentials set secret_ct = ${cts[0]}, refresh_ct = ${cts[1]}, key_id = ${active}
                where connection_id = ${r.id}`;
              moved++;
            }
            return moved;
          }
          case "handshake_verifier": {
            const rows = await tx<{ id: string; keyId: string; verifierCt: string }[]>`
              select id::text, key_id, verifier_ct from handshakes
              where key_id is not null and key_id <> ${active} and id::text <> all(${exclude as string[]}::text[])
              order by id limit ${limit} for update skip locked`;
            for (const r of rows) {
              const ct = attempt(r, () => rewrapper.rewrap(r.verifierCt, { ...sealedFields.handshakeVerifier, rowId: r.id }));
              if (ct === undefined) continue;
              await tx`update handshakes set verifier_ct = ${ct}, key_id = ${active} where id = ${r.id}`;
              moved++;
            }
            return moved;
          }
          case "session_signing_key": {
            const rows = await tx<{ id: string; keyId: string; privateJwkCt: string }[]>`
              select kid as id, key_id, private_jwk_ct from session_signing_keys
              where key_id <> ${active} and kid <> all(${exclude as string[]}::text[])
              order by kid limit ${limit} for update skip locked`;
            for (const r of rows) {
              const ct = attempt(r, () => rewrapper.rewrap(r.privateJwkCt, { ...sealedFields.sessionSigningKey, rowId: r.id }));
              if (ct === undefined) continue;
              await tx`update session_signing_keys set private_jwk_ct = ${ct}, key_id = ${active} where kid = ${r.id}`;
              moved++;
            }
            return moved;
          }
        }
      });
      return { moved, unopenable };
    },
    async leftOnOldKeys(active, exclude) {
      const rows = await sql<{ kind: SealedColumnKind; rowId: string; keyId: string; leased: boolean }[]>`
        select 'provider_client_secret' as kind, id::text as row_id, key_id, false as leased from providers
          where key_id is not null and key_id <> ${active} and id::text <> all(${exclude.provider_client_secret as string[]}::text[])
        union all
        select 'credential', connection_id::text, key_id, coalesce(lease_until > now(), false) from credentials
          where key_id <> ${active} and connection_id::text <> all(${exclude.credential as string[]}::text[])
        union all
        select 'handshake_verifier', id::text, key_id, false from handshakes
          where key_id is not null and key_id <> ${active} and id::text <> all(${exclude.handshake_verifier as string[]}::text[])
        union all
        select 'session_signing_key', kid, key_id, false from session_signing_keys
          where key_id <> ${active} and kid <> all(${exclude.session_signing_key as string[]}::text[])
        order by kind, row_id`;
      return rows.map(({ kind, rowId, keyId, leased }) => ({ kind, rowId, keyId, leased }));
    },
    async samplesUnder(keyId, limit) {
      const rows = await sql<{ kind: SealedColumnKind; rowId: string; ciphertext: string }[]>`
        (select 'credential' as kind, connection_id::text as row_id, secret_ct as ciphertext from credentials where key_id = ${keyId} limit ${limit})
        union all (select 'provider_client_secret', id::text, client_secret_ct from providers where key_id = ${keyId} limit ${limit})
        union all (select 'handshake_verifier', id::text, verifier_ct from handshakes where key_id = ${keyId} limit ${limit})
        union all (select 'session_signing_key', kid, private_jwk_ct from session_signing_keys where key_id = ${keyId} limit ${limit})
        limit ${limit}`;
      return rows.map(({ kind, rowId, ciphertext }) => ({ kind, rowId, ciphertext }));
    },
  };
}

// A row that does not open is reported, not thrown: one bad row must neither
// roll back the rows already moved in its batch nor stop the rewrap.
function tryRewrap<T>(kind: SealedColumnKind, row: { id: string; keyId: string }, unopenable: UnopenableRow[], rewrap: () => T): T | undefined {
  try {
    return rewrap();
  } catch (error) {
    if (!(error instanceof NexusError)) throw error;
    unopenable.push({ kind, rowId: row.id, keyId: row.keyId, reason: error.reason, detail: error.message });
    return undefined;
  }
}

import type { Rewrapper, SealedColumnKind, SealedValueStore } from "../domain/ports.ts";
import type { Sql } from "../db/sql.ts";
import { sealedFields } from "../domain/sealed-fields.ts";


/** Key usage and rewrap over every sealed column. */
export function createSealedValueRepository(sql: Sql): SealedValueStore {
  return {
    async keyIdsInUse() {
      const rows = await sql<{ keyId: string }[]>`
        select key_id from providers where key_id is not null
        union select key_id from credentials
        union select key_id from handshakes where key_id is not null`;
      return rows.map((r) => r.keyId).sort();
    },
    async rewrapBatch(kind: SealedColumnKind, rewrapper: Rewrapper, limit: number) {
      const active = rewrapper.activeKeyId;
      return sql.begin(async (tx) => {
        switch (kind) {
          case "provider_client_secret": {
            const rows = await tx<{ id: string; clientSecretCt: string }[]>`
              select id, client_secret_ct from providers where key_id is not null and key_id <> ${active}
              order by id limit ${limit} for update skip locked`;
            for (const r of rows) {
              const ct = rewrapper.rewrap(r.clientSecretCt, { ...sealedFields.providerClientSecret, rowId: r.id });
              await tx`update providers set client_secret_ct = ${ct}, key_id = ${active}, version = version + 1 where id = ${r.id}`;
            }
            return rows.length;
          }
          case "credential": {
            const rows = await tx<{ connectionId: string; secretCt: string; refreshCt: string | null }[]>`
              select connection_id, secret_ct, refresh_ct from credentials where key_id <> ${active}
              order by connection_id limit ${limit} for update skip locked`;
            for (const r of rows) {
              const secret = rewrapper.rewrap(r.secretCt, { ...sealedFields.credentialSecret, rowId: r.connectionId });
              const refresh = r.refreshCt === null
                ? null
                : rewrapper.rewrap(r.refreshCt, { ...sealedFields.credentialRefreshToken, rowId: r.connectionId });
              await tx`update credentials set secret_ct = ${secret}, refresh_ct = ${refresh}, key_id = ${active},
                version = version + 1 where connection_id = ${r.connectionId}`;
            }
            return rows.length;
          }
          case "handshake_verifier": {
            const rows = await tx<{ id: string; verifierCt: string }[]>`
              select id, verifier_ct from handshakes where key_id is not null and key_id <> ${active}
              order by id limit ${limit} for update skip locked`;
            for (const r of rows) {
              const ct = rewrapper.rewrap(r.verifierCt, { ...sealedFields.handshakeVerifier, rowId: r.id });
              await tx`update handshakes set verifier_ct = ${ct}, key_id = ${active} where id = ${r.id}`;
            }
            return rows.length;
          }
        }
      });
    },
  };
}

import type { SealedColumnKind, UnopenableRow } from "../../broker/domain/ports.ts";
import type { RewrapReport } from "../../broker/services/key-rotation-service.ts";

const nouns: Record<SealedColumnKind, string> = {
  provider_client_secret: "provider client secrets",
  credential: "credentials",
  handshake_verifier: "handshake verifiers",
  session_signing_key: "session signing keys",
};

// What the operator can do about a row whose secret is lost: the secret cannot be
// recovered without the key that sealed it, so each remedy replaces or drops it.
const remedies: Record<SealedColumnKind, (rowId: string) => string> = {
  credential: (id) => `revoke this connection (RevokeConnection, or DELETE /connections/${id}) and ask its user to connect again`,
  provider_client_secret: (id) => `enter this provider's client secret again (UpdateProvider, or PATCH /providers/${id} with client_secret)`,
  handshake_verifier: () => "nothing: the handshake expires within minutes and is deleted; its user starts the connection again",
  session_signing_key: (kid) => `rotate the session signing key (POST /session-keys/rotate); sessions signed with "${kid}" stop verifying, so their agents create new ones`,
};

/** One quarantined row on one line: kind, row id, key id, reason and what to do. Never content. */
export function formatQuarantined(row: UnopenableRow): string {
  return `${row.kind} ${row.rowId} (key "${row.keyId}", ${row.reason}): ${remedies[row.kind](row.rowId)}`;
}

/** The summary `make rewrap` prints: what moved, what was quarantined, what is left and what to do next. */
export function formatRewrapReport(report: RewrapReport, activeKeyId: string, keyIdsInUse: readonly string[]): string {
  const moved = (Object.keys(nouns) as SealedColumnKind[]).map((k) => `${report.moved[k]} ${nouns[k]}`).join(", ");
  const lines = [`rewrapped onto key "${activeKeyId}": ${moved}`, `keys still in use: ${keyIdsInUse.join(", ") || "none"}`];
  if (report.quarantined.length > 0) {
    lines.push(
      "",
      `${report.quarantined.length} row(s) could not be opened and were quarantined (left as they were, listed in table vault_quarantine):`,
      ...report.quarantined.map((row) => `  ${formatQuarantined(row)}`),
      "Their old key must stay in ENCRYPTION_KEYS until each row is dealt with (the Broker refuses to start while a row",
      "names a key that is not loaded); run make rewrap again afterwards to clear the quarantine.",
    );
  }
  if (report.leftBehind.length > 0) {
    lines.push(
      "",
      `${report.leftBehind.length} row(s) are still on an old key: a refresh or another writer kept them busy, or a Broker`,
      "still sealing with the old key wrote them back:",
      ...report.leftBehind.map((r) => `  ${r.kind} ${r.rowId} (key "${r.keyId}"${r.leased ? ", leased by a refresh" : ""})`),
      "Run make rewrap again; keep the old key loaded until it reports nothing left.",
    );
  }
  if (report.quarantined.length === 0 && report.leftBehind.length === 0 && keyIdsInUse.every((k) => k === activeKeyId)) {
    lines.push(`every stored secret is sealed under "${activeKeyId}"; other keys may now leave ENCRYPTION_KEYS`);
  }
  return `${lines.join("\n")}\n`;
}

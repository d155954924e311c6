import { NexusError } from "../../shared/errors.ts";
import type { CredentialRecord } from "../domain/connection.ts";
import type { Sealer } from "../domain/ports.ts";
import type { Provider, Strategy } from "../domain/provider.ts";
import { sealedFields } from "../domain/sealed-fields.ts";

/** What agents receive: the usable values and how to apply them. Never a refresh token. */
export interface CredentialPayload {
  readonly strategy: Strategy;
  readonly credentials: Readonly<Record<string, string>>;
  /** Unix seconds; absent when the credential does not expire. */
  readonly expiresAt: number | undefined;
}

/** Opens a stored credential and pairs it with the provider's strategy. */
export function credentialPayload(provider: Provider, record: CredentialRecord, sealer: Pick<Sealer, "openText">): CredentialPayload {
  const secret = JSON.parse(sealer.openText(record.secretCt, { ...sealedFields.credentialSecret, rowId: record.connectionId })) as Record<string, string>;
  // Static providers store their effective strategy at registration.
  const strategy = provider.authType === "oauth2" ? { type: "oauth2", config: {} } : provider.params.authStrategy;
  if (strategy === undefined) {
    throw new NexusError("internal", `provider "${provider.name}" has no auth strategy for ${provider.authType}`);
  }
  return {
    strategy,
    credentials: secret,
    expiresAt: record.expiresAt === null ? undefined : Math.floor(record.expiresAt.getTime() / 1000),
  };
}

/**
 * The agent-facing part of an OAuth token response, as it is sealed: the
 * access token, its type and scope, and the fields the provider's
 * `params.keep_token_fields` names (which cannot shadow the others).
 */
export function oauthSecret(tokens: { accessToken: string; tokenType: string; scope?: string; kept?: Readonly<Record<string, string>> }): string {
  const secret: Record<string, string> = { ...tokens.kept, access_token: tokens.accessToken, token_type: tokens.tokenType };
  if (tokens.scope !== undefined && tokens.scope !== "") secret.scope = tokens.scope;
  return JSON.stringify(secret);
}

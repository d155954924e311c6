import type { Credential as CredentialMessage } from "../../gen/nexus/common/v1/credential_pb.ts";

/** How to apply a credential: the strategy `type` and its string settings (see the strategy table of the API). */
export interface CredentialStrategy {
  readonly type: string;
  readonly config: Readonly<Record<string, string>>;
}

/**
 * A credential as agents use it: what to send (`credentials`) and how
 * (`strategy`). Plain data, so it can be cached, cloned and logged by shape
 * (never by value).
 */
export interface Credential {
  readonly strategy: CredentialStrategy;
  readonly credentials: Readonly<Record<string, string>>;
  /** When it stops working, in unix seconds; absent when it does not expire. */
  readonly expiresAt?: number;
  /** The connection it came from, when the call named it (resolveToken). */
  readonly connectionId?: string;
}

/**
 * Converts the generated `nexus.common.v1.Credential` message into the plain
 * {@linkcode Credential} shape. A message without a strategy gets an empty
 * type, which every strategy function refuses: a payload the client cannot
 * interpret must never become an unsigned request.
 */
export function toCredential(message: CredentialMessage | undefined): Credential {
  const strategy = message?.strategy;
  return {
    strategy: { type: strategy?.type ?? "", config: { ...strategy?.config } },
    credentials: { ...message?.credentials },
    ...(message?.expiresAt === undefined ? {} : { expiresAt: message.expiresAt }),
  };
}

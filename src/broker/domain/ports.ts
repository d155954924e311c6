/**
 * The interfaces services depend on. Repositories (raw SQL) and the vault
 * implement them; tests may fake them. Services never see postgres.js.
 */
import type { Agent } from "./agent.ts";
import type { Connection, ConnectionStatus, CredentialRecord, Handshake, HandshakeKind } from "./connection.ts";
import type { Session } from "./session.ts";
import type { AuthType, JsonObject, Provider, ProviderSettings } from "./provider.ts";

/** A provider to insert or the full new state of one to replace. */
export interface ProviderWrite extends ProviderSettings {
  readonly name: string;
  readonly authType: AuthType;
  readonly clientId: string;
  /** New sealed secret; undefined keeps the stored one (on update), null removes it. */
  readonly clientSecret: { readonly ciphertext: string; readonly keyId: string } | null | undefined;
}

/** Where providers live. */
export interface ProviderStore {
  /** Inserts a provider with the given id. Throws NexusError name_taken on a clash. */
  create(id: string, provider: ProviderWrite): Promise<Provider>;
  /** Live providers, newest first. */
  list(): Promise<Provider[]>;
  /** A provider by id; deleted ones only when asked (their connections keep working). */
  getById(id: string, options?: { includeDeleted?: boolean }): Promise<Provider | undefined>;
  /** A live provider by name or alias. */
  getByName(nameOrAlias: string): Promise<Provider | undefined>;
  /**
   * Replaces a live provider if its version still is `expectedVersion`; undefined when it is not (gone or changed).
   * Throws NexusError auth_type_immutable when the auth type would change and any connection (of any status) uses it.
   */
  replace(id: string, expectedVersion: bigint, provider: ProviderWrite): Promise<Provider | undefined>;
  /** Soft-deletes a live provider and frees its name and aliases; false when there was none. */
  softDelete(id: string): Promise<boolean>;
}

/** A value sealed by the vault, bound to its table, row and field. */
export interface SealContext {
  readonly table: string;
  readonly rowId: string;
  readonly field: string;
}

/** The vault, as services see it. */
export interface Sealer {
  readonly activeKeyId: string;
  seal(plaintext: string, context: SealContext): string;
  openText(ciphertext: string, context: SealContext): string;
  /** A keyed fingerprint of a secret (HMAC under a vault subkey), to compare secrets without revealing them. */
  fingerprint(secret: string): string;
}

/** Re-seals a ciphertext under the active key (the vault's rewrap). */
export interface Rewrapper {
  readonly activeKeyId: string;
  rewrap(ciphertext: string, context: SealContext): string;
}

/** One kind of sealed column: where it lives and how its ciphertexts are bound. */
export type SealedColumnKind = "provider_client_secret" | "credential" | "handshake_verifier" | "session_signing_key";

/** One row holding sealed values, named without its content. */
export interface SealedRowRef {
  readonly kind: SealedColumnKind;
  /** The row's id (a connection id for credentials). */
  readonly rowId: string;
  /** The key id the row says it is sealed with. */
  readonly keyId: string;
}

/** A row the vault could not open during rewrap; left as it was. */
export interface UnopenableRow extends SealedRowRef {
  /** The vault's error reason: `decrypt_failed` (wrong key, corrupted or malformed) or `key_unknown`. */
  readonly reason: string;
  /** The vault's message: table, field, row, key id and the problem; never bytes. */
  readonly detail: string;
}

/** What one rewrap batch did. */
export interface RewrapBatchResult {
  /** Rows now sealed under the active key. */
  readonly moved: number;
  /** Rows that did not open; the rest of the batch was moved regardless. */
  readonly unopenable: readonly UnopenableRow[];
}

/** A stored ciphertext, for a trial opening. */
export interface SealedSample {
  readonly kind: SealedColumnKind;
  readonly rowId: string;
  readonly ciphertext: string;
}

/** Where sealed values live, for key rotation. */
export interface SealedValueStore {
  /** Every key id some stored ciphertext was sealed with. */
  keyIdsInUse(): Promise<string[]>;
  /**
   * Re-seals up to `limit` rows of one kind that are not under the active key,
   * skipping `exclude`d row ids, rows other transactions hold and credentials
   * whose refresh lease is live. Never changes a credential's `version`: the
   * tokens are the same, and the refresh engine's compare-and-set must not see
   * a rewrap as a competing refresh.
   */
  rewrapBatch(kind: SealedColumnKind, rewrapper: Rewrapper, options: { limit: number; exclude: readonly string[] }): Promise<RewrapBatchResult>;
  /** Rows of every kind still under a key other than `activeKeyId`, but for `exclude`d ones; `leased` when a refresh holds it. */
  leftOnOldKeys(activeKeyId: string, exclude: Readonly<Record<SealedColumnKind, readonly string[]>>): Promise<(SealedRowRef & { leased: boolean })[]>;
  /** Up to `limit` stored ciphertexts of rows that name `keyId`. */
  samplesUnder(keyId: string, limit: number): Promise<SealedSample[]>;
}

/** Rows rewrap could not open, kept for the operator. */
export interface QuarantineStore {
  /** Records rows, replacing an earlier record of the same row. */
  record(rows: readonly UnopenableRow[]): Promise<void>;
  /** Forgets rows that are gone or now sealed under `activeKeyId`; returns how many. */
  prune(activeKeyId: string): Promise<number>;
}

/** What `nexus doctor` reads about the database. */
export interface StatusStore {
  /** Versions of the migrations applied, in order. */
  migrationsApplied(): Promise<string[]>;
  /** Rows rewrap quarantined. */
  quarantinedRows(): Promise<number>;
}

/** The check value of each key id, as first recorded. */
export interface KeyCheckStore {
  /** The check value recorded for `keyId`; undefined when there is none. */
  get(keyId: string): Promise<string | undefined>;
  /** Records `checkValue` unless one is recorded already, and returns the recorded one (which may be another process's). */
  putIfAbsent(keyId: string, checkValue: string): Promise<string>;
}

/** The vault, as the key check sees it. */
export interface KeyVerifier {
  readonly keyIds: readonly string[];
  /** A value that tells key material apart and reveals nothing about it. */
  keyCheckValue(keyId: string): string;
  keyIdOf(ciphertext: string): string;
  /** Throws NexusError `decrypt_failed` when the key does not open it. The caller wipes the result. */
  open(ciphertext: string, context: SealContext): Uint8Array;
}

/** A new pending connection and its handshake, written together. */
export interface NewHandshake {
  readonly connection: {
    readonly id: string;
    readonly workspaceId: string;
    readonly providerId: string;
    readonly scopes: readonly string[];
    readonly returnUrl: string;
    readonly createdBy: string;
    /** The registered agent that starts it; null for operators and unscoped keys. */
    readonly agentId: string | null;
  };
  readonly handshake: {
    readonly id: string;
    readonly kind: HandshakeKind;
    readonly verifier: { readonly ciphertext: string; readonly keyId: string } | null;
    readonly nonce: string;
    readonly issuer: string;
    readonly issRequired: boolean;
    readonly redirectUri: string;
  };
  /** Seconds until the handshake lapses, counted on the database clock. */
  readonly lifetimeSeconds: number;
}

/** A credential to store: sealed values and, for OAuth, the token lifetime. */
export interface NewCredential {
  readonly keyId: string;
  readonly secretCt: string;
  readonly refreshCt: string | null;
  /** Seconds until the access token expires, from now on the database clock; undefined when it does not. */
  readonly expiresInSeconds: number | undefined;
  /** Refresh margin: the refresh is due this long (at most a third of the lifetime) before expiry. */
  readonly refreshMarginSeconds: number;
  /** The refresh is never due sooner than this after storing (a token that lives 0 s must not loop). */
  readonly minRefreshIntervalSeconds: number;
  /**
   * The access token is the one already stored: a narrowing refresh only
   * moved the refresh token on. Its expiry, when it was refreshed and when its
   * refresh is due stay as they were (`expiresInSeconds` is ignored), or a
   * sub-agent exchanging often would keep postponing the connection's own refresh.
   */
  readonly keepSchedule?: boolean;
}

/** A page of connections. */
export interface ConnectionQuery {
  readonly workspaceId?: string;
  readonly providerId?: string;
  readonly status?: ConnectionStatus;
  /** Only connections this registered agent started. */
  readonly agentId?: string;
  /** Only connections created before this one (cursor). */
  readonly before?: { readonly createdAt: Date; readonly id: string };
  readonly limit: number;
}

/** Where connections, their credentials and their handshakes live. */
export interface ConnectionStore {
  /** Creates a pending connection and its handshake in one transaction. */
  start(input: NewHandshake): Promise<void>;
  get(id: string): Promise<Connection | undefined>;
  list(query: ConnectionQuery): Promise<Connection[]>;
  /**
   * The newest active connection of a workspace to a provider, by the
   * provider's name or alias; with `agentId`, only among the connections that
   * agent started.
   */
  newestActive(workspaceId: string, providerName: string, agentId?: string): Promise<Connection | undefined>;
  /** Reads a handshake without consuming it. */
  peekHandshake(id: string): Promise<Handshake | undefined>;
  /**
   * Deletes and returns a handshake of the given kind: only one caller ever
   * gets it. A handshake of another kind is left untouched (undefined), so a
   * capture state brought to the OAuth callback cannot use up the capture.
   */
  consumeHandshake(id: string, kind: HandshakeKind): Promise<Handshake | undefined>;
  /**
   * Stores the credential and makes a pending connection active, in one
   * transaction. False when the connection was no longer pending.
   */
  activate(connectionId: string, credential: NewCredential, grantedScopes: readonly string[]): Promise<boolean>;
  /** Moves a pending connection to failed. False when it was not pending. */
  fail(connectionId: string, reason: string): Promise<boolean>;
  /**
   * Moves an active connection to attention_required, only if its credential
   * is still at `credentialVersion` (a newer token means someone else succeeded).
   */
  requireAttention(connectionId: string, reason: string, credentialVersion: bigint): Promise<boolean>;
  /** Deletes the credential and marks the connection revoked. */
  revoke(connectionId: string): Promise<Connection | undefined>;
  getCredential(connectionId: string): Promise<CredentialRecord | undefined>;
  /**
   * A token read's three records (connection, provider, credential) in one
   * round trip; undefined when there is no such connection. Optional: without
   * it, a token read asks for them one by one.
   */
  readForToken?(connectionId: string): Promise<TokenReadRow | undefined>;
  /**
   * Stores the tokens a refresh under `lease` received, if the credential's
   * version is still `expectedVersion` (compare-and-set: only another refresh
   * moves it), releasing the lease and clearing the failure bookkeeping and the
   * write-ahead mark. A connection a sibling marked attention_required for a
   * refused refresh meanwhile becomes active again: these tokens prove the
   * grant lives. Undefined when the version moved (or the row is gone); the
   * caller reads the row to tell its own lost answer from a sibling's write.
   */
  storeRefreshed(connectionId: string, lease: LeaseRef, expectedVersion: bigint, credential: NewCredential): Promise<{ record: CredentialRecord; revived: boolean } | undefined>;
  /**
   * Takes the refresh lease of a credential unless anyone, this process
   * included, holds a live one, and sets the write-ahead mark. Returns the
   * credential version the lease covers and whether the mark was already set
   * (a previous attempt was interrupted).
   */
  claimLease(connectionId: string, lease: LeaseRequest): Promise<{ version: bigint; interrupted: boolean } | undefined>;
  /** Gives a lease back without writing a token; clears the write-ahead mark. A no-op for any other claim. */
  releaseLease(connectionId: string, lease: LeaseRef): Promise<void>;
  /**
   * Records a transient refresh failure under `lease`: no attempt before
   * `retryInSeconds`, lease released, write-ahead mark cleared unless
   * `keepMark` (the provider may have rotated the token unheard). Returns how
   * many failures in a row, and since when; undefined when the lease was lost.
   */
  recordRefreshFailure(
    connectionId: string, lease: LeaseRef, failure: { error: string; retryInSeconds: number; keepMark: boolean },
  ): Promise<{ failureCount: number; failingSince: Date } | undefined>;
}

/** What a token read reads: the connection, its provider (even a deleted one) and its credential (none once revoked). */
export interface TokenReadRow {
  readonly connection: Connection;
  readonly provider: Provider;
  readonly credential: CredentialRecord | undefined;
}

/** One refresh claim: a fresh id per claim, and the Broker that holds it. */
export interface LeaseRef {
  readonly id: string;
  readonly owner: string;
}

/** A claim to make: its id (chosen by the claimer, so a lost answer can still be released) and its length. */
export interface LeaseRequest extends LeaseRef {
  readonly seconds: number;
}

/** A credential claimed for a background refresh: the row as the lease found it, and its connection's provider. */
export interface RefreshClaim {
  readonly record: CredentialRecord;
  readonly providerId: string;
  /** The claim's lease. */
  readonly lease: LeaseRef;
  /** The write-ahead mark was already set: the previous attempt was interrupted after it may have sent the token. */
  readonly interrupted: boolean;
}

/** The queue of credentials due for refresh. */
export interface RefreshQueue {
  /** Leases up to `limit` due credentials (oldest due first) under `lease`, skipping ones other processes hold. */
  claimDue(lease: LeaseRequest, limit: number): Promise<RefreshClaim[]>;
  /** Gives back every row still held under `lease` (a claim whose answer was lost). */
  releaseAll(lease: LeaseRef): Promise<void>;
  /** Seconds until the next credential becomes due, comes out of backoff, or loses its lease; undefined when none will. */
  secondsUntilNextDue(): Promise<number | undefined>;
  /** Calls `wake` whenever any process stores a credential due soon; resolves to an unsubscribe function. */
  onWake(wake: () => void): Promise<() => Promise<void>>;
}

/** What a subscriber to {@linkcode CredentialChangeFeed} hears. */
export interface CredentialChangeHandlers {
  /** What GetToken answers for this connection changed; `undefined`: for any connection. */
  changed(connectionId: string | undefined): void;
  /** This agent changed (disabled, key rotated, keys or allowed providers edited). */
  agentChanged(agentId: string): void;
  /** A heartbeat sent with {@linkcode CredentialChangeFeed.ping} came back. */
  pong(token: string): void;
  /** The subscription is (again) in place; changes made while it was down were missed. */
  listening(): void;
}

/** Every Broker's news of credential changes, from whichever Broker made them. */
export interface CredentialChangeFeed {
  /** Subscribes; resolves to an unsubscribe function. */
  subscribe(handlers: CredentialChangeHandlers): Promise<() => Promise<void>>;
  /** Sends a heartbeat through the feed, to prove the subscription still hears. */
  ping(token: string): Promise<void>;
}

/** An agent to register. */
export interface NewAgent {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly allowedProviders: readonly string[];
  readonly jwks: JsonObject | null;
  readonly keyDigest: string;
}

/** What an agent update may change. */
export interface AgentChanges {
  readonly description?: string;
  readonly allowedProviders?: readonly string[];
  readonly jwks?: JsonObject | null;
}

/** Where registered agents live. */
export interface AgentStore {
  /** Inserts an agent. Throws NexusError name_taken when a live agent has the name. */
  create(agent: NewAgent): Promise<Agent>;
  /** Every agent, disabled ones too, newest first. */
  list(): Promise<Agent[]>;
  get(id: string): Promise<Agent | undefined>;
  /** Changes a live agent whose version is still `expectedVersion`; undefined when it is gone, disabled or changed. */
  update(id: string, changes: AgentChanges, expectedVersion: bigint): Promise<Agent | undefined>;
  /** Replaces a live agent's key digest; undefined when it is gone or disabled. */
  setKeyDigest(id: string, keyDigest: string): Promise<Agent | undefined>;
  /** Disables an agent (idempotent); undefined when there is none. */
  disable(id: string): Promise<Agent | undefined>;
}

/** The assertion ids already used, shared by every Gateway and Broker. */
export interface AssertionLedger {
  /** Records that `jti` of `agentId` was used; false when it had been before (a replay). */
  remember(agentId: string, jti: string, expiresAt: Date): Promise<boolean>;
}

/** A page of sessions. */
export interface SessionQuery {
  /** Sessions this agent holds or delegated. */
  readonly agentId?: string;
  readonly connectionId?: string;
  readonly before?: { readonly createdAt: Date; readonly id: string };
  readonly limit: number;
}

/** Where sessions live. */
export interface SessionStore {
  create(session: Omit<Session, "createdAt" | "revokedAt">): Promise<Session>;
  /** A session and its ancestors, itself first, root last; empty when there is none. */
  chain(id: string): Promise<Session[]>;
  list(query: SessionQuery): Promise<Session[]>;
  /** The live sessions `agentId` holds for a connection, newest first. */
  heldBy(agentId: string, connectionId: string): Promise<Session[]>;
  /** Revokes a session and every live descendant; returns how many were revoked now. */
  revoke(id: string): Promise<number>;
  /** Deletes sessions that expired or were revoked before `cutoff`; returns how many. */
  pruneBefore(cutoff: Date): Promise<number>;
}

/** A signing key as stored: its public half, and its private half sealed. */
export interface StoredSigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly publicJwk: JsonObject;
  readonly keyId: string;
  readonly privateJwkCt: string;
  readonly createdAt: Date;
}

/** Where session signing keys live. */
export interface SigningKeyStore {
  /** Every key, newest first. */
  list(): Promise<StoredSigningKey[]>;
  /**
   * Inserts `key` unless a key newer than `maxAgeSeconds` exists (0: always),
   * under a lock so that Brokers starting together make one; returns the
   * newest key afterwards.
   */
  insertIfStale(key: Omit<StoredSigningKey, "createdAt">, maxAgeSeconds: number): Promise<StoredSigningKey>;
  /** Deletes keys superseded more than `retainSeconds` ago; returns how many. */
  pruneRetired(retainSeconds: number): Promise<number>;
}

/** What lifecycle housekeeping changes. */
export interface HousekeepingStore {
  /** Pending connections past their handshake expiry become failed. */
  expirePendingConnections(): Promise<{ id: string; providerId: string }[]>;
  /** Handshakes past their expiry are deleted; returns how many. */
  deleteExpiredHandshakes(): Promise<number>;
  /** Connections per status (every status present, zero when none). */
  countByStatus(): Promise<Record<ConnectionStatus, number>>;
  /** Forgets assertion ids past their expiry (a replay of those fails on expiry anyway); returns how many. */
  deleteExpiredAssertions(): Promise<number>;
}

/** An audit event to record. Never a secret in any field. */
export interface AuditEventInput {
  readonly eventType: string;
  readonly connectionId?: string;
  readonly providerId?: string;
  readonly providerName?: string;
  readonly caller?: string;
  /** The registered agent whose call this was. */
  readonly agentId?: string;
  readonly outcome: "success" | "failure";
  readonly reason?: string;
  readonly details?: JsonObject;
  /** When it happened, when that was before it is recorded (a coalesced read's last read); now when absent. */
  readonly occurredAt?: Date;
}

/** A recorded audit event. */
export interface AuditEventRecord {
  readonly id: bigint;
  readonly occurredAt: Date;
  readonly eventType: string;
  readonly connectionId: string | null;
  readonly providerId: string | null;
  readonly providerName: string;
  readonly caller: string;
  readonly agentId: string | null;
  readonly outcome: "success" | "failure";
  readonly reason: string;
  readonly details: JsonObject;
}

/** Filters of an audit query, newest first. */
export interface AuditQuery {
  readonly connectionId?: string;
  readonly agentId?: string;
  readonly eventType?: string;
  readonly since?: Date;
  readonly until?: Date;
  /** Only events with a smaller id (cursor). */
  readonly beforeId?: bigint;
  readonly limit: number;
}

/** Where audit events live. */
export interface AuditStore {
  insertMany(events: readonly (AuditEventInput & { readonly occurredAt: Date })[]): Promise<void>;
  list(query: AuditQuery): Promise<AuditEventRecord[]>;
  /** Deletes up to `batch` events older than `cutoff`; returns how many. */
  pruneBefore(cutoff: Date, batch: number): Promise<number>;
}

/** The audit log as services use it. */
export interface AuditLog {
  /**
   * Queues an event; it is written within a fraction of a second, in a batch,
   * and retried through database outages while the in-memory queue has room.
   */
  record(event: AuditEventInput): void;
  /** Writes an event before returning; if that fails, queues it for retry instead of failing the caller. */
  recordNow(event: AuditEventInput): Promise<void>;
}

/**
 * Why audit events were lost: the in-memory queue was full (a long database
 * outage), shutdown came before the database did, or the database refused
 * the event itself.
 */
export type AuditDropReason = "queue_full" | "shutdown" | "rejected";

/** Audit log metrics (labels are reason words only, never an id). */
export interface AuditMetrics {
  /** `count` audit events were lost for `reason`. */
  auditEventsDropped(reason: AuditDropReason, count: number): void;
}

/** Credential metrics as services report them (no label ever holds a secret or a user id). */
export interface BrokerMetrics {
  /** A GetToken/ResolveToken answered (`count` of them: reads a Gateway answered from its cache), by the provider's name. */
  tokenGet(provider: string, status: "success" | "error", count?: number): void;
  /** A refresh attempt ended, and how long it took. */
  refresh(status: "success" | "error", seconds: number): void;
  /** A static credential capture ended. */
  capture(status: "success" | "error"): void;
  /** The current number of connections per status. */
  connections(counts: Readonly<Record<string, number>>): void;
  /** One repository call took this long. */
  dbOperation(repo: string, method: string, seconds: number): void;
  /** A token read looked in the token cache: found, not found, or the cache was not trusted at the time. */
  tokenCacheLookup(result: "hit" | "miss" | "untrusted"): void;
  /** A session was created, exchanged or revoked, or that was refused. */
  session(event: "created" | "exchanged" | "revoked", outcome: "success" | "refused"): void;
}

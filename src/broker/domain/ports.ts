/**
 * The interfaces services depend on. Repositories (raw SQL) and the vault
 * implement them; tests may fake them. Services never see postgres.js.
 */
import type { AuthType, Provider, ProviderParams } from "./provider.ts";

/** A provider to insert or the full new state of one to replace. */
export interface ProviderWrite {
  readonly name: string;
  readonly authType: AuthType;
  readonly clientId: string;
  /** New sealed secret; undefined keeps the stored one (on update), null removes it. */
  readonly clientSecret: { readonly ciphertext: string; readonly keyId: string } | null | undefined;
  readonly issuer: string;
  readonly enableDiscovery: boolean;
  readonly authUrl: string;
  readonly tokenUrl: string;
  readonly scopes: readonly string[];
  readonly params: ProviderParams;
  readonly description: string;
  readonly category: string;
  readonly apiBaseUrl: string;
  readonly userInfoEndpoint: string;
  readonly aliases: readonly string[];
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
  /** Replaces a live provider if its version still is `expectedVersion`; undefined when it is not (gone or changed). */
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
}

/** Re-seals a ciphertext under the active key (the vault's rewrap). */
export interface Rewrapper {
  readonly activeKeyId: string;
  rewrap(ciphertext: string, context: SealContext): string;
}

/** One kind of sealed column: where it lives and how its ciphertexts are bound. */
export type SealedColumnKind = "provider_client_secret" | "credential" | "handshake_verifier";

/** Where sealed values live, for key rotation. */
export interface SealedValueStore {
  /** Every key id some stored ciphertext was sealed with. */
  keyIdsInUse(): Promise<string[]>;
  /**
   * Re-seals up to `limit` rows of one kind that are not under `activeKeyId`,
   * locking them so concurrent writers wait; returns how many were moved.
   */
  rewrapBatch(kind: SealedColumnKind, rewrapper: Rewrapper, limit: number): Promise<number>;
}

import type { Sql } from "../db/sql.ts";
import { NexusError } from "../../shared/errors.ts";
import type { ProviderStore, ProviderWrite } from "../domain/ports.ts";
import type { AuthType, JsonObject, Provider, ProviderParams, Strategy } from "../domain/provider.ts";
import { authTypeImmutable, defaultProviderParams } from "../domain/provider.ts";

/** A providers row with its aliases, as read. */
export interface ProviderRow {
  id: string;
  name: string;
  authType: AuthType;
  clientId: string;
  clientSecretCt: string | null;
  keyId: string | null;
  issuer: string;
  enableDiscovery: boolean;
  authUrl: string;
  tokenUrl: string;
  revocationUrl: string;
  scopes: string[];
  params: Record<string, unknown>;
  description: string;
  category: string;
  apiBaseUrl: string;
  userInfoEndpoint: string;
  aliases: string[] | null;
  template: string;
  templateValues: Record<string, string>;
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
  version: bigint;
}

/** Providers in PostgreSQL: `providers` and `provider_aliases`. */
export function createProviderRepository(sql: Sql): ProviderStore {
  const select = (where: ReturnType<Sql>) => sql<ProviderRow[]>`
    select p.*, (select array_agg(a.alias order by a.alias) from provider_aliases a where a.provider_id = p.id) as aliases
    from providers p where ${where}`;

  return {
    async create(id, w) {
      try {
        return await sql.begin(async (tx) => {
          await tx`insert into providers ${tx(columns(w, id))}`;
          await insertAliases(tx as unknown as Sql, id, w.aliases);
          return (await getOne(tx as unknown as Sql, id))!;
        });
      } catch (error) {
        throw uniqueViolation(error, w.name) ?? error;
      }
    },
    async list() {
      const rows = await select(sql`p.deleted_at is null order by p.created_at desc, p.id`);
      return rows.map(toProvider);
    },
    async getById(id, options = {}) {
      const rows = await select(options.includeDeleted ? sql`p.id = ${id}` : sql`p.id = ${id} and p.deleted_at is null`);
      return rows[0] === undefined ? undefined : toProvider(rows[0]);
    },
    async getByName(name) {
      const rows = await select(sql`p.deleted_at is null and (p.name = ${name}
        or p.id = (select provider_id from provider_aliases where alias = ${name}))`);
      return rows[0] === undefined ? undefined : toProvider(rows[0]);
    },
    async replace(id, expectedVersion, w) {
      try {
        return await sql.begin(async (tx) => {
          // Locked first: starting a connection checks its foreign key under a KEY SHARE lock on
          // this row, so no connection can appear between the check below and the update.
          const [current] = await tx<{ authType: AuthType }[]>`select auth_type from providers
            where id = ${id} and deleted_at is null and version = ${expectedVersion.toString()} for update`;
          if (current === undefined) return undefined;
          if (current.authType !== w.authType) {
            const [used] = await tx`select 1 from connections where provider_id = ${id} limit 1`;
            if (used !== undefined) throw authTypeImmutable(current.authType, w.authType);
          }
          const values = columns(w, id);
          const updated = await tx`
            update providers set ${tx(values, Object.keys(values).filter((k) => k !== "id") as (keyof typeof values)[])},
              updated_at = now(), version = version + 1
            where id = ${id} and deleted_at is null and version = ${expectedVersion.toString()}
            returning id`;
          if (updated.length === 0) return undefined;
          await tx`delete from provider_aliases where provider_id = ${id}`;
          await insertAliases(tx as unknown as Sql, id, w.aliases);
          return getOne(tx as unknown as Sql, id);
        });
      } catch (error) {
        throw uniqueViolation(error, w.name) ?? error;
      }
    },
    async softDelete(id) {
      return sql.begin(async (tx) => {
        const rows = await tx`update providers set deleted_at = now(), updated_at = now(), version = version + 1
          where id = ${id} and deleted_at is null returning id`;
        await tx`delete from provider_aliases where provider_id = ${id}`;
        return rows.length > 0;
      });
    },
  };

  async function getOne(tx: Sql, id: string): Promise<Provider | undefined> {
    const [row] = await tx<ProviderRow[]>`
      select p.*, (select array_agg(a.alias order by a.alias) from provider_aliases a where a.provider_id = p.id) as aliases
      from providers p where p.id = ${id}`;
    return row === undefined ? undefined : toProvider(row);
  }
}

async function insertAliases(tx: Sql, id: string, aliases: readonly string[]): Promise<void> {
  if (aliases.length === 0) return;
  await tx`insert into provider_aliases ${tx(aliases.map((alias) => ({ alias, provider_id: id })))}`;
}

function columns(w: ProviderWrite, id: string) {
  return {
    id,
    name: w.name,
    auth_type: w.authType,
    client_id: w.clientId,
    ...(w.clientSecret === undefined
      ? {}
      : { client_secret_ct: w.clientSecret?.ciphertext ?? null, key_id: w.clientSecret?.keyId ?? null }),
    issuer: w.issuer,
    enable_discovery: w.enableDiscovery,
    auth_url: w.authUrl,
    token_url: w.tokenUrl,
    revocation_url: w.revocationUrl,
    scopes: [...w.scopes],
    params: paramsToJson(w.params) as never,
    description: w.description,
    category: w.category,
    api_base_url: w.apiBaseUrl,
    user_info_endpoint: w.userInfoEndpoint,
    template: w.template,
    template_values: { ...w.templateValues } as never,
  };
}

/** Maps a unique-index violation to name_taken: two writers raced for one name or alias. */
function uniqueViolation(error: unknown, name: string): NexusError | undefined {
  const e = error as { code?: string; constraint_name?: string };
  if (e.code !== "23505") return undefined;
  const what = e.constraint_name === "provider_aliases_pkey" ? "an alias" : `the name "${name}"`;
  return new NexusError("name_taken", `${what} is already used by another provider`, { field: "name" });
}

/** Params are stored in the API's own JSON shape (snake_case keys). */
export function paramsToJson(p: ProviderParams): JsonObject {
  const out: JsonObject = {};
  if (Object.keys(p.authorizeParams).length > 0) out.authorize_params = { ...p.authorizeParams };
  if (p.tokenEndpointAuthMethod !== "") out.token_endpoint_auth_method = p.tokenEndpointAuthMethod;
  if (p.scopeSeparator !== undefined) out.scope_separator = p.scopeSeparator;
  if (p.skipScopeOnAuthorize) out.skip_scope_on_authorize = true;
  if (p.skipScopeOnExchange) out.skip_scope_on_exchange = true;
  if (p.narrowScopesOnRefresh) out.narrow_scopes_on_refresh = true;
  if (!p.pkce) out.pkce = false;
  if (p.quirks.length > 0) out.quirks = [...p.quirks];
  if (p.keepTokenFields.length > 0) out.keep_token_fields = [...p.keepTokenFields];
  if (p.credentialSchema !== undefined) out.credential_schema = p.credentialSchema;
  if (p.authStrategy !== undefined) out.auth_strategy = { type: p.authStrategy.type, config: { ...p.authStrategy.config } };
  return out;
}

function paramsFromJson(j: Record<string, unknown>): ProviderParams {
  const method = j.token_endpoint_auth_method;
  return {
    authorizeParams: (j.authorize_params as Record<string, string> | undefined) ?? {},
    tokenEndpointAuthMethod: method === "client_secret_basic" || method === "client_secret_post" ? method : "",
    scopeSeparator: typeof j.scope_separator === "string" ? j.scope_separator : undefined,
    skipScopeOnAuthorize: j.skip_scope_on_authorize === true,
    skipScopeOnExchange: j.skip_scope_on_exchange === true,
    narrowScopesOnRefresh: j.narrow_scopes_on_refresh === true,
    pkce: j.pkce !== false,
    quirks: stringsOf(j.quirks),
    keepTokenFields: stringsOf(j.keep_token_fields),
    credentialSchema: j.credential_schema as JsonObject | undefined,
    authStrategy: j.auth_strategy as Strategy | undefined,
  } satisfies ProviderParams;
}

function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

/** A provider record from its row. */
export function toProvider(r: ProviderRow): Provider {
  return {
    ...r,
    params: { ...defaultProviderParams, ...paramsFromJson(r.params) },
    aliases: r.aliases ?? [],
  };
}

/**
 * A real OpenID Provider for tests: oidc-provider in-process on 127.0.0.1 with
 * an ephemeral port, automatic login and consent, refresh tokens for every
 * client, rotation with reuse detection, revocation and RFC 9207 `iss`.
 *
 *   const idp = await startTestIdp({ clients: [{ client_id, client_secret, redirect_uris: [cb] }] });
 *   const callback = await idp.authorize(authUrl); // code, state, iss
 *   await idp.close();
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair } from "jose";
import type Provider from "oidc-provider";
import type { Configuration } from "oidc-provider";
import { createMemoryStore, loadProvider, quietly } from "../../src/runtime/node/sandbox/oidc-memory-store.ts";

/** A client registered at the test IdP. */
export interface TestIdpClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
  /** Default client_secret_basic. */
  token_endpoint_auth_method?: "client_secret_basic" | "client_secret_post";
}

/** Options of {@linkcode startTestIdp}. */
export interface TestIdpOptions {
  clients: TestIdpClient[];
  /** Access and ID token lifetime in seconds (default 60). */
  accessTokenTtl?: number;
  /** Rotate refresh tokens on every use, with oidc-provider's reuse detection (default true). */
  rotateRefreshTokens?: boolean;
  /** Refuse authorization requests without PKCE (default true). */
  pkceRequired?: boolean;
  /** Scopes beyond openid, email, profile and offline_access. */
  extraScopes?: string[];
}

/** A running test IdP. */
export interface TestIdp {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  issuer: string;
  provider: Provider;
  /**
   * Completes login and consent for an authorization URL like a browser would
   * (fetch with `redirect: "manual"` and a cookie jar), following redirects
   * until the request's redirect_uri, and returns that final URL (with code,
   * state and iss, or error) without calling it. `accountId` defaults to
   * "test-user"; `deny` answers the interaction with access_denied.
   */
  authorize(authUrl: string, options?: { accountId?: string; deny?: boolean }): Promise<URL>;
  /** Revokes every grant (and its tokens) of `accountId`, or of everyone when omitted. */
  revokeAll(accountId?: string): Promise<void>;
  /**
   * Holds every token endpoint answer back for `ms` after the provider has
   * processed the request (a rotation has happened by then): a slow provider,
   * or a slow network on the way back. 0 turns it off.
   */
  setTokenAnswerDelay(ms: number): void;
  /** Token endpoint requests seen (refresh and code grants alike), and answers written. */
  readonly tokenRequests: { started: number; answered: number };
  close(): Promise<void>;
}

/** The account `authorize` logs in by default. */
export const defaultTestAccount = "test-user";

const accountHeader = "x-test-idp-account";
const denyHeader = "x-test-idp-deny";

/** Starts an IdP; close it when done. */
export async function startTestIdp(options: TestIdpOptions): Promise<TestIdp> {
  const ProviderClass = await loadProvider();
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const store = createMemoryStore();
  const ttl = options.accessTokenTtl ?? 60;
  const pkceRequired = options.pkceRequired ?? true;

  // Our own signing key and adapter keep oidc-provider from warning about its development defaults.
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: "test-idp-rs256", use: "sig", alg: "RS256" };

  const configuration: Configuration = {
    clients: options.clients.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      redirect_uris: c.redirect_uris,
      token_endpoint_auth_method: c.token_endpoint_auth_method ?? "client_secret_basic",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
    })),
    adapter: (name: string) => store.adapter(name),
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString("base64url")] },
    pkce: { required: () => pkceRequired },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      userinfo: { enabled: true },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: async (_ctx, sub) => ({
      accountId: sub,
      claims: async () => ({ sub, email: `${sub}@example.test`, email_verified: true, name: `Test ${sub}` }),
    }),
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
    scopes: ["openid", "email", "profile", "offline_access", ...(options.extraScopes ?? [])],
    // The default issues refresh tokens only with offline_access; brokers need them for every grant.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    rotateRefreshToken: options.rotateRefreshTokens ?? true,
    ttl: { AccessToken: ttl, IdToken: ttl, AuthorizationCode: 60, RefreshToken: 3600, Grant: 3600, Interaction: 300, Session: 300 },
    clientBasedCORS: () => false,
    renderError: async (ctx, out) => {
      ctx.type = "json";
      ctx.body = out;
    },
  };
  const provider = await quietly(() => new ProviderClass(issuer, configuration));
  const callback = provider.callback();

  let tokenAnswerDelayMs = 0;
  const tokenRequests = { started: 0, answered: 0 };
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", issuer).pathname;
    if (path === "/token") {
      tokenRequests.started++;
      const delay = tokenAnswerDelayMs;
      const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
      // The provider does its work (and rotates) at once; only the answer is late.
      res.end = ((...args: unknown[]) => {
        const finish = () => {
          tokenRequests.answered++;
          end(...args);
        };
        if (delay > 0) setTimeout(finish, delay);
        else finish();
        return res;
      }) as typeof res.end;
    }
    if (/^\/interaction\/[^/]+$/.test(path)) {
      interact(provider, req, res).catch((error: unknown) => {
        res.statusCode = 500;
        res.end(`interaction failed: ${error instanceof Error ? error.message : String(error)}`);
      });
      return;
    }
    void callback(req, res);
  });

  return {
    issuer,
    provider,
    authorize: (authUrl, authorizeOptions = {}) => browse(issuer, authUrl, authorizeOptions),
    revokeAll: async (accountId) => store.revokeAccount(accountId),
    setTokenAnswerDelay(ms) {
      tokenAnswerDelayMs = ms;
    },
    tokenRequests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeAllConnections();
      }),
  };
}

/** Finishes the login or consent prompt the way the test browser asked. */
async function interact(provider: Provider, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  if (req.headers[denyHeader] === "1") {
    const result = { error: "access_denied", error_description: "denied by the test" };
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
    return;
  }
  if (details.prompt.name === "login") {
    const header = req.headers[accountHeader];
    const accountId = typeof header === "string" && header !== "" ? header : defaultTestAccount;
    await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
    return;
  }
  const grant =
    details.grantId !== undefined
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session?.accountId, clientId: String(details.params.client_id) });
  if (grant === undefined) throw new Error("grant of the interaction not found");
  const prompt = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
  if (prompt.missingOIDCScope !== undefined) grant.addOIDCScope(prompt.missingOIDCScope.join(" "));
  if (prompt.missingOIDCClaims !== undefined) grant.addOIDCClaims(prompt.missingOIDCClaims);
  for (const [resource, scopes] of Object.entries(prompt.missingResourceScopes ?? {})) grant.addResourceScope(resource, scopes.join(" "));
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

/** The test browser: follows the provider's redirects with a cookie jar until the redirect_uri. */
async function browse(issuer: string, authUrl: string, options: { accountId?: string; deny?: boolean }): Promise<URL> {
  const redirectUri = new URL(authUrl).searchParams.get("redirect_uri");
  if (redirectUri === null) throw new Error("the authorization URL has no redirect_uri");
  const target = new URL(redirectUri);
  const jar = new Map<string, string>();
  let url = new URL(authUrl);
  for (let hop = 0; hop < 20; hop++) {
    if (url.origin !== new URL(issuer).origin) throw new Error(`the IdP redirected to an unexpected place: ${url.origin}${url.pathname}`);
    const headers = new Headers();
    if (jar.size > 0) headers.set("cookie", [...jar].map(([name, value]) => `${name}=${value}`).join("; "));
    if (options.accountId !== undefined) headers.set(accountHeader, options.accountId);
    if (options.deny === true) headers.set(denyHeader, "1");
    const response = await fetch(url, { redirect: "manual", headers });
    for (const cookie of response.headers.getSetCookie()) updateJar(jar, cookie);
    const location = response.headers.get("location");
    if (response.status < 300 || response.status >= 400 || location === null) {
      const body = (await response.text()).slice(0, 500);
      throw new Error(`the IdP answered HTTP ${response.status} at ${url.pathname}: ${body}`);
    }
    await response.body?.cancel();
    const next = new URL(location, url);
    if (next.origin === target.origin && next.pathname === target.pathname) return next;
    url = next;
  }
  throw new Error("too many redirects at the IdP");
}

function updateJar(jar: Map<string, string>, setCookie: string): void {
  const [pair = "", ...attributes] = setCookie.split(";");
  const eq = pair.indexOf("=");
  if (eq <= 0) return;
  const name = pair.slice(0, eq).trim();
  const value = pair.slice(eq + 1).trim();
  const expired = attributes.some((attribute) => {
    const [key = "", val = ""] = attribute.split("=").map((s) => s.trim());
    if (key.toLowerCase() === "max-age") return Number(val) <= 0;
    return key.toLowerCase() === "expires" && Date.parse(val) <= Date.now();
  });
  if (expired || value === "") jar.delete(name);
  else jar.set(name, value);
}


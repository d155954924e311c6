/**
 * The development sandbox that `make run` starts so a newcomer can try both
 * kinds of connection without registering anything anywhere:
 * - `sandbox`: a real OpenID provider (oidc-provider) with discovery, 2-minute
 *   access tokens and rotating refresh tokens, and a login page where you pick a
 *   test user and consent;
 * - `sandbox-api`: an API that accepts one test key, for static-credential capture.
 * Both are registered on the Broker. Development only: never started by
 * `make broker` or `make gateway`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Configuration } from "oidc-provider";
import { explainBusyPort } from "../busy-port.ts";
import { createMemoryStore, loadProvider, quietly } from "./oidc-memory-store.ts";
import { createStateSaver, loadSandboxState } from "./sandbox-state.ts";
import { apiHomePage, consentPage, loginPage, sandboxUsers } from "./sandbox-pages.ts";

/** Options of {@linkcode startSandbox}. */
export interface SandboxOptions {
  /** Port of the OpenID provider; the API takes the next one. Use 0 for ephemeral ports (tests). */
  port: number;
  /** The Broker's public URL: the provider allows BASE_URL/auth/callback. */
  brokerBaseUrl: string;
  /** Access token lifetime in seconds. @default 120 */
  accessTokenTtl?: number;
  /** The Broker's admin API, to register the two providers. */
  broker: { url: string; apiKey: string };
  /**
   * Where the provider keeps its grants, tokens and keys across restarts, so
   * that the Broker's connections stay active (make run: .nexus/sandbox.json).
   * In memory only when unset.
   */
  stateFile?: string;
}

/** A running sandbox. */
export interface Sandbox {
  readonly issuer: string;
  readonly apiUrl: string;
  /** The key the sandbox API accepts. */
  readonly apiKey: string;
  close(): Promise<void>;
}

const clientId = "nexus-sandbox";

/** Starts the sandbox provider and API, and registers them on the Broker (idempotently). */
export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const apiKey = "sk_sandbox_demo";
  const idpServer = createServer();
  const issuer = `http://127.0.0.1:${await listen(idpServer, options.port, "NEXUS_SANDBOX_PORT")}`;
  const apiServer = createServer((req, res) => sandboxApi(req, res, apiKey));
  const apiUrl = `http://127.0.0.1:${await listen(apiServer, options.port === 0 ? 0 : options.port + 1, "NEXUS_SANDBOX_PORT (the sandbox API uses the port after it)")
    .catch((error: unknown) => {
      idpServer.close();
      throw error;
    })}`;

  const Provider = await loadProvider();
  const state = await loadSandboxState(options.stateFile);
  const { clientSecret } = state;
  const saver = createStateSaver(options.stateFile, () => ({ ...state, entries: store.saved() }));
  const store = createMemoryStore({ restore: state.entries, onChange: saver.changed });
  saver.changed();
  const ttl = options.accessTokenTtl ?? 120;
  const configuration: Configuration = {
    clients: [{
      client_id: clientId, client_secret: clientSecret, client_name: "Nexus (sandbox)",
      redirect_uris: [`${options.brokerBaseUrl.replace(/\/$/, "")}/auth/callback`],
      grant_types: ["authorization_code", "refresh_token"], response_types: ["code"], token_endpoint_auth_method: "client_secret_basic",
    }],
    adapter: (name: string) => store.adapter(name),
    jwks: { keys: [{ ...state.signingKey, kid: "sandbox-1", use: "sig", alg: "RS256" }] },
    cookies: { keys: [...state.cookieKeys] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false }, revocation: { enabled: true }, userinfo: { enabled: true } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: async (_ctx, sub) => {
      const user = sandboxUsers.find((u) => u.id === sub);
      return user && { accountId: sub, claims: async () => ({ sub, name: user.name, email: user.email, email_verified: true }) };
    },
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
    scopes: ["openid", "email", "profile", "offline_access"],
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    rotateRefreshToken: true,
    ttl: { AccessToken: ttl, IdToken: ttl, AuthorizationCode: 120, RefreshToken: 14 * 86_400, Grant: 14 * 86_400, Interaction: 600, Session: 600 },
  };
  const provider = await quietly(() => new Provider(issuer, configuration));
  const callback = provider.callback();
  idpServer.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const match = /^\/interaction\/([^/]+)(?:\/(login|confirm|abort))?$/.exec(new URL(req.url ?? "/", issuer).pathname);
    if (match === null) return void callback(req, res);
    interact(provider, req, res, match[2]).catch((error: unknown) => {
      res.writeHead(400, { "content-type": "text/plain" });
      res.end(`The sandbox could not finish this step (${error instanceof Error ? error.message : "error"}). Start the connection again.`);
    });
  });

  await register(options.broker, {
    name: "sandbox", auth_type: "oauth2", issuer, enable_discovery: true, client_id: clientId, client_secret: clientSecret,
    scopes: ["openid", "email", "profile", "offline_access"], category: "sandbox",
    description: "Sandbox OpenID provider started by make run: sign in as a test user. Tokens last 2 minutes and refresh on their own.",
    params: { authorize_params: { prompt: "consent" } },
  });
  await register(options.broker, {
    name: "sandbox-api", auth_type: "api_key", api_base_url: apiUrl, user_info_endpoint: "/me", category: "sandbox",
    description: `Sandbox API-key service started by make run: its test key is ${apiKey}.`,
    params: { credential_schema: { type: "object", required: ["api_key"], properties: { api_key: { type: "string", title: "Sandbox API key", format: "password", description: `Try ${apiKey}` } } } },
  });

  return {
    issuer, apiUrl, apiKey,
    async close() {
      for (const s of [idpServer, apiServer]) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
      await saver.flush();
    },
  };
}

/** The login and consent steps, as forms. */
async function interact(provider: InstanceType<Awaited<ReturnType<typeof loadProvider>>>, req: IncomingMessage, res: ServerResponse, step: string | undefined): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  const client = await provider.Client.find(String(details.params.client_id));
  const clientName = String(client?.clientName ?? details.params.client_id);
  if (step === undefined) {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    if (details.prompt.name === "login") return void res.end(loginPage(details.uid, clientName));
    const user = sandboxUsers.find((u) => u.id === details.session?.accountId)?.name ?? "a test user";
    return void res.end(consentPage(details.uid, clientName, user, String(details.params.scope ?? "").split(" ").filter(Boolean)));
  }
  if (step === "abort") {
    return provider.interactionFinished(req, res, { error: "access_denied", error_description: "The user denied access" }, { mergeWithLastSubmission: false });
  }
  if (step === "login") {
    const user = new URLSearchParams(await readBody(req)).get("user") ?? "";
    if (!sandboxUsers.some((u) => u.id === user)) throw new Error("unknown test user");
    return provider.interactionFinished(req, res, { login: { accountId: user } }, { mergeWithLastSubmission: false });
  }
  const grant = details.grantId !== undefined
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session?.accountId, clientId: String(details.params.client_id) });
  if (grant === undefined) throw new Error("the consent expired");
  const prompt = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
  if (prompt.missingOIDCScope !== undefined) grant.addOIDCScope(prompt.missingOIDCScope.join(" "));
  if (prompt.missingOIDCClaims !== undefined) grant.addOIDCClaims(prompt.missingOIDCClaims);
  await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
}

function sandboxApi(req: IncomingMessage, res: ServerResponse, key: string): void {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (path === "/me") {
    const ok = req.headers["x-api-key"] === key;
    res.writeHead(ok ? 200 : 401, { "content-type": "application/json" });
    res.end(JSON.stringify(ok ? { user: "sandbox-user", plan: "free" } : { error: "invalid key" }));
    return;
  }
  res.writeHead(path === "/" ? 200 : 404, { "content-type": "text/html; charset=utf-8" });
  res.end(apiHomePage(key));
}

/** Creates the provider, or updates it when it exists (ports and secrets change between runs). */
async function register(broker: SandboxOptions["broker"], profile: Record<string, unknown>): Promise<void> {
  const headers = { "x-api-key": broker.apiKey, "content-type": "application/json" };
  const existing = await fetch(`${broker.url}/providers/by-name/${profile.name as string}`, { headers });
  const res = existing.ok
    ? await fetch(`${broker.url}/providers/${((await existing.json()) as { id: string }).id}`, { method: "PUT", headers, body: JSON.stringify({ profile }) })
    : await fetch(`${broker.url}/providers`, { method: "POST", headers, body: JSON.stringify({ profile }) });
  if (!res.ok) throw new Error(`registering the ${profile.name as string} provider failed: ${res.status} ${await res.text()}`);
}

function listen(server: Server, port: number, variable: string): Promise<number> {
  return explainBusyPort(port, variable, () => new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve((server.address() as { port: number }).port));
  }));
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = "";
  for await (const chunk of req) body += chunk;
  return body;
}

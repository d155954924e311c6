/**
 * Shared harness of the security suites (security.md §5, C-03…C-55): a
 * Broker on a real socket with a movable clock, one or more scriptable fake
 * providers, and a record of every secret the flows produced and every answer
 * the Broker gave, for the C-50 canary scan at the end of each file.
 */
import assert from "node:assert/strict";
import { createKeyRing } from "../../src/broker/vault/key-ring.ts";
import { createVault, type Vault } from "../../src/broker/vault/vault.ts";
import { type JsonReply, recordingFetch, registerProvider } from "./broker-api.ts";
import { type FakeProvider, startFakeProvider } from "./fake-provider.ts";
import { startStack, type TestStack } from "./stack.ts";

/** A started connection. */
export interface Started {
  readonly id: string;
  readonly state: string;
  readonly authUrl: string;
}

/** What the callback answered. */
export interface CallbackReply {
  readonly status: number;
  readonly headers: Headers;
  readonly location: URL | undefined;
  readonly body: string;
}

/** The security harness of one test file. */
export interface SecurityHarness {
  readonly stack: TestStack;
  /** Token responses the Broker received, as text, for the canary. */
  readonly tokenResponses: string[];
  /** Moves the Broker's clock (ms added to the real time). */
  setClockOffset(ms: number): void;
  /** Makes the Broker's next token request fail as if the provider timed out. */
  timeoutNextTokenRequest(): void;
  /** Registers an OIDC provider over `fake` (discovery on, openid asked for, so a nonce is sent). */
  registerFake(name: string, fake: FakeProvider, extra?: Record<string, unknown>): Promise<string>;
  /** A REST call with the admin key; the answer is kept for the canary, minus the intended agent-facing values. */
  rest(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<JsonReply>;
  /** StartConnection for `provider` with return URL `returnUrl`. */
  start(provider: string, returnUrl?: string, workspace?: string): Promise<Started>;
  /** The browser coming back from `fake` with a fresh code (recorded), plus `extra` parameters. */
  authorize(fake: FakeProvider, authUrl: string, extra?: Record<string, string>): URL;
  /** GET /auth/callback with the given query string; the answer is recorded. */
  callback(query: URL | string): Promise<CallbackReply>;
  /** A full successful consent; returns the connection id. */
  connect(fake: FakeProvider, provider: string): Promise<string>;
  /** GET /connections/{id}: the status and reason. */
  connection(id: string): Promise<{ status: string; reason: string }>;
  /** Row count of a table, for "nothing was created" checks. */
  count(table: "connections" | "credentials" | "handshakes" | "providers" | "audit_events" | "provider_aliases"): Promise<number>;
  /** The stored credential row of a connection. */
  credentialRow(id: string): Promise<{ secretCt: string; refreshCt: string | null; version: bigint; keyId: string; expiresAt: Date | null } | undefined>;
  /** A vault over the Broker's key, to check what the Broker stored. */
  readonly vault: Vault;
  /** Adds values the canary must never find (states, keys, forged inputs). */
  remember(...secrets: string[]): void;
  /** Every answer recorded so far. */
  readonly replies: string[];
  /** C-50: every secret seen, searched in logs, every table (ciphertext columns excepted), audit rows, metrics and answers. */
  canary(fakes: readonly FakeProvider[], minimumSecrets: number): Promise<void>;
  close(): Promise<void>;
}

/** Credential payload routes: their access token / key is the intended agent-facing value (C-50 exception). */
const credentialRoute = /^\/(connections\/[^/]+\/(token|refresh)|resolve)(\?|$)/;

/** Starts a Broker-only stack with a recording fetch and a movable clock. */
export async function startSecurityHarness(): Promise<SecurityHarness> {
  const recorder = recordingFetch();
  let offset = 0;
  let timeoutNext = false;
  const fetchWithFaults: typeof fetch = async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (timeoutNext && new URL(url).pathname === "/token") {
      timeoutNext = false;
      // What the Broker's own 15 s deadline raises, without waiting 15 s.
      throw new DOMException("The operation was aborted due to timeout", "TimeoutError");
    }
    return recorder.fetch(input, init);
  };
  const stack = await startStack({ brokerOnly: true, fetch: fetchWithFaults, now: () => Date.now() + offset });
  const replies: string[] = [];
  const extraSecrets = new Set<string>();
  const codes = new Set<string>();
  const ring = createKeyRing(new Map([["primary", new Uint8Array(Buffer.from(stack.brokerEnv.ENCRYPTION_KEY!, "base64"))]]), "primary");
  const vault = createVault(ring);

  async function rest(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<JsonReply> {
    const res = await fetch(`${stack.broker.url}${path}`, {
      method,
      headers: { "x-api-key": stack.adminKey, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: Record<string, unknown>;
    try {
      parsed = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      parsed = { raw: text };
    }
    let kept = text;
    if (res.status === 200 && credentialRoute.test(path)) {
      // The agent-facing access token or key is the one value these answers exist to carry.
      const scrubbed = structuredClone(parsed) as { credentials?: Record<string, string> };
      if (scrubbed.credentials !== undefined) {
        delete scrubbed.credentials.access_token;
        delete scrubbed.credentials.api_key;
      }
      kept = JSON.stringify(scrubbed);
    } else if (res.status === 200 && method === "POST" && path === "/connections") {
      // StartConnection hands the state to its caller by design.
      const { state: _s, auth_url: _a, ...rest } = parsed;
      kept = JSON.stringify(rest);
    }
    replies.push(`${method} ${path} -> ${res.status} ${[...res.headers].map(([k, v]) => `${k}: ${v}`).join("\n")}\n${kept}`);
    return { status: res.status, body: parsed, headers: res.headers };
  }

  const harness: SecurityHarness = {
    stack,
    tokenResponses: recorder.tokenResponses,
    vault,
    replies,
    setClockOffset(ms) {
      offset = ms;
    },
    timeoutNextTokenRequest() {
      timeoutNext = true;
    },
    async registerFake(name, fake, extra = {}) {
      return registerProvider(stack, {
        name, auth_type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret,
        issuer: fake.issuer, enable_discovery: true, scopes: ["openid", "email"], ...extra,
      });
    },
    rest,
    async start(provider, returnUrl = "https://app.example.com/done", workspace = "ws-sec") {
      const r = await rest("POST", "/connections", { workspace_id: workspace, provider_name: provider, return_url: returnUrl });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const state = r.body.state as string;
      extraSecrets.add(state);
      return { id: r.body.connection_id as string, state, authUrl: r.body.auth_url as string };
    },
    authorize(fake, authUrl, extra = {}) {
      const back = fake.authorize(authUrl, extra);
      const code = back.searchParams.get("code");
      if (code !== null && code !== "") codes.add(code);
      return back;
    },
    async callback(query) {
      const search = typeof query === "string" ? query : query.search;
      const res = await fetch(`${stack.broker.url}/auth/callback${search}`, { redirect: "manual" });
      const body = await res.text();
      const location = res.headers.get("location");
      replies.push(`GET /auth/callback -> ${res.status} ${[...res.headers].map(([k, v]) => `${k}: ${v}`).join("\n")}\n${body}`);
      return { status: res.status, headers: res.headers, location: location === null ? undefined : new URL(location), body };
    },
    async connect(fake, provider) {
      const s = await harness.start(provider);
      const r = await harness.callback(harness.authorize(fake, s.authUrl));
      assert.equal(r.status, 303, r.body);
      assert.equal(r.location?.searchParams.get("status"), "success", r.location?.href);
      return s.id;
    },
    async connection(id) {
      const r = await rest("GET", `/connections/${id}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return { status: r.body.status as string, reason: (r.body.status_reason as string | undefined) ?? "" };
    },
    async count(table) {
      const [row] = await stack.db.sql.unsafe<{ n: number }[]>(`select count(*)::int as n from ${table}`);
      return row!.n;
    },
    async credentialRow(id) {
      const [row] = await stack.db.sql<{ secretCt: string; refreshCt: string | null; version: bigint; keyId: string; expiresAt: Date | null }[]>`
        select secret_ct, refresh_ct, version, key_id, expires_at from credentials where connection_id = ${id}`;
      return row;
    },
    remember(...secrets) {
      for (const s of secrets) if (s !== "") extraSecrets.add(s);
    },
    async canary(fakes, minimumSecrets) {
      const secrets = new Set<string>(extraSecrets);
      for (const c of codes) secrets.add(c);
      for (const body of recorder.tokenResponses) {
        let json: Record<string, unknown>;
        try {
          json = JSON.parse(body) as Record<string, unknown>;
        } catch {
          continue;
        }
        for (const k of ["access_token", "refresh_token", "id_token"]) if (typeof json[k] === "string" && json[k] !== "") secrets.add(json[k] as string);
      }
      for (const fake of fakes) {
        secrets.add(fake.clientSecret);
        for (const seen of fake.seen) {
          for (const k of ["code", "code_verifier", "refresh_token", "client_secret"]) {
            const v = seen.params.get(k);
            if (v !== null && v !== "") secrets.add(v);
          }
        }
      }
      assert.ok(secrets.size >= minimumSecrets, `the canary collected only ${secrets.size} secrets`);
      const tables = ["providers", "provider_aliases", "connections", "credentials", "handshakes", "audit_events"];
      const rows: string[] = [];
      for (const t of tables) {
        for (const row of await stack.db.sql.unsafe(`select * from ${t}`)) {
          // Ciphertext columns (*_ct) are the one place secrets may live.
          const plain = Object.fromEntries(Object.entries(row).filter(([k]) => !/Ct$/.test(k)));
          rows.push(`${t}: ${JSON.stringify(plain, (_k, v) => (typeof v === "bigint" ? String(v) : v))}`);
        }
      }
      const metrics = await (await fetch(`${stack.broker.url}/metrics`)).text();
      const haystacks: [string, string][] = [
        ["logs", stack.logs.join("")],
        ["database", rows.join("\n")],
        ["metrics", metrics],
        ["responses", replies.join("\n")],
      ];
      const hits: string[] = [];
      for (const secret of secrets) {
        for (const [where, text] of haystacks) {
          if (text.includes(secret)) hits.push(`${where}: ${secret.slice(0, 12)}…`);
        }
      }
      assert.deepEqual(hits, [], `secrets found: ${hits.join(", ")}`);
    },
    close: () => stack.close(),
  };
  return harness;
}

/** Starts fake providers with the harness's expectations, closed by the caller. */
export { startFakeProvider };

/** Flips one character in the middle of a base64url segment, so the decoded bytes really change. */
export function flipMiddle(segment: string): string {
  const i = Math.floor(segment.length / 2);
  const c = segment[i]!;
  return segment.slice(0, i) + (c === "A" ? "B" : "A") + segment.slice(i + 1);
}

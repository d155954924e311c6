/**
 * Stand-in OAuth 2.0 providers, one per quirk FAMILY (not per provider): a
 * token endpoint (and revocation endpoint) that answers the way a family of
 * providers documents it, reached through the Broker's injected fetch at the
 * template's own URLs. Strict as the providers are: the client must
 * authenticate as its template says, the code is single-use and bound to its
 * redirect URI and PKCE challenge, and a retired refresh token fails.
 *
 * Wire families (how requests and answers are written):
 * - `rfc6749`: form requests, JSON answers, errors 400 with `error` (Google, GitLab, Discord, ...).
 * - `form_encoded`: answers form-encoded unless the request accepts JSON, errors with status
 *   200 and `error` (GitHub OAuth apps and GitHub Apps).
 * - `ok_false`: answers carry `ok: true`; errors are 200 with `ok: false` (Slack).
 * - `json_body`: requests must be JSON bodies, client credentials in them or in Basic (Atlassian, Notion).
 * - `expires_in_string`: `expires_in` as a JSON string (Microsoft Entra).
 * Refresh families: `rotate` (a new refresh token retires the old, optionally after a reuse
 * interval, as Atlassian's 10 minutes), `keep` (a refresh answers no refresh token; the old
 * one stays valid: Google, Salesforce), `never` (no refresh token at all: GitHub OAuth apps, Shopify).
 * Extra fields: every answer carries the template's kept token fields (instance_url, authed_user.id).
 */
import { createHash, randomBytes } from "node:crypto";

/** How a family writes requests and answers. */
export type WireFamily = "rfc6749" | "form_encoded" | "ok_false" | "json_body" | "expires_in_string";
/** What a refresh answers. */
export type RefreshFamily = "rotate" | "keep" | "never";

/** What a stand-in is set up with: its family and the template it stands in for. */
export interface StandInOptions {
  readonly wire: WireFamily;
  readonly refresh: RefreshFamily;
  /** With `rotate`: how long a retired refresh token keeps working. @default 0 */
  readonly reuseIntervalMs?: number;
  /** `expires_in` of answers, or absent (Salesforce, Shopify). @default 3600 */
  readonly expiresIn?: number | "absent";
  readonly tokenUrl: string;
  readonly revocationUrl?: string;
  readonly client: { readonly id: string; readonly secret: string; readonly method: "client_secret_basic" | "client_secret_post" };
  readonly scopeSeparator: string;
  /** Dotted paths of extra fields every token answer carries. */
  readonly extraFields: readonly string[];
  readonly tokenType?: string;
}

/** One call the stand-in answered. */
export interface SeenCall {
  readonly endpoint: "token" | "revoke";
  readonly params: Readonly<Record<string, string>>;
  readonly accept: string;
  readonly contentType: string;
}

/** A stand-in provider. */
export interface OAuthStandIn {
  readonly seen: SeenCall[];
  /** The JSON object of the last successful token answer. */
  readonly lastAnswer: Record<string, unknown> | undefined;
  /** Tokens revoked at the revocation endpoint. */
  readonly revoked: ReadonlySet<string>;
  /** Refresh tokens that would be accepted now. */
  usableRefreshTokens(): string[];
  /** The user consents: the redirect back to `redirect_uri` with a code bound to this request. */
  authorize(authUrl: string): URL;
  /** Every refresh token stops working (the user removed the app at the provider). */
  killRefreshTokens(): void;
  /** Answers a request the Broker sent to one of the template's URLs. */
  handle(request: Request): Promise<Response>;
}

/** Creates a stand-in for a template's provider. */
export function createOAuthStandIn(o: StandInOptions): OAuthStandIn {
  const seen: SeenCall[] = [];
  const codes = new Map<string, { redirectUri: string; challenge: string; scope: string }>();
  const refreshTokens = new Map<string, number>(); // token -> usable until (ms)
  const revoked = new Set<string>();
  let lastAnswer: Record<string, unknown> | undefined;
  let issued = 0;

  const errorCodes = {
    rfc6749: { code: "invalid_grant", refresh: "invalid_grant", client: "invalid_client" },
    form_encoded: { code: "bad_verification_code", refresh: "bad_refresh_token", client: "incorrect_client_credentials" },
    ok_false: { code: "invalid_code", refresh: "invalid_refresh_token", client: "bad_client_secret" },
  };
  const codesOf = o.wire === "form_encoded" || o.wire === "ok_false" ? errorCodes[o.wire] : errorCodes.rfc6749;

  function answer(body: Record<string, unknown>, accept: string, status = 200): Response {
    if (o.wire === "form_encoded" && !/application\/json/.test(accept)) {
      const form = new URLSearchParams(Object.entries(body).map(([k, v]) => [k, String(v)]));
      return new Response(form.toString(), { status, headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" } });
    }
    return Response.json(o.wire === "ok_false" ? { ok: status === 200 && body.error === undefined, ...body } : body, { status });
  }

  function error(code: keyof typeof errorCodes.rfc6749, accept: string): Response {
    const name = codesOf[code];
    if (o.wire === "form_encoded" || o.wire === "ok_false") return answer({ error: name }, accept);
    return answer({ error: name }, accept, code === "client" ? 401 : 400);
  }

  async function readParams(request: Request): Promise<Record<string, string> | undefined> {
    const type = request.headers.get("content-type") ?? "";
    const text = await request.text();
    if (o.wire === "json_body") {
      if (!/application\/json/.test(type)) return undefined;
      const body = JSON.parse(text) as Record<string, unknown>;
      return Object.fromEntries(Object.entries(body).map(([k, v]) => [k, String(v)]));
    }
    return Object.fromEntries(new URLSearchParams(text));
  }

  function clientOk(request: Request, params: Record<string, string>): boolean {
    if (o.client.method === "client_secret_basic") {
      const basic = /^Basic (.+)$/.exec(request.headers.get("authorization") ?? "")?.[1];
      const [id, secret] = Buffer.from(basic ?? "", "base64").toString("utf8").split(":").map(decodeURIComponent);
      return id === o.client.id && secret === o.client.secret && params.client_secret === undefined;
    }
    return params.client_id === o.client.id && params.client_secret === o.client.secret && !request.headers.has("authorization");
  }

  function tokens(scope: string, withRefresh: boolean): Record<string, unknown> {
    issued++;
    const body: Record<string, unknown> = { access_token: `at-${o.wire}-${issued}-${randomBytes(6).toString("hex")}`, token_type: o.tokenType ?? "bearer" };
    const expiresIn = o.expiresIn ?? 3600;
    if (expiresIn !== "absent") body.expires_in = o.wire === "expires_in_string" ? String(expiresIn) : expiresIn;
    if (withRefresh) {
      const refresh = `rt-${o.wire}-${issued}-${randomBytes(6).toString("hex")}`;
      refreshTokens.set(refresh, Number.POSITIVE_INFINITY);
      body.refresh_token = refresh;
    }
    if (scope !== "") body.scope = scope;
    for (const path of o.extraFields) setPath(body, path, `${path}-${issued}`);
    lastAnswer = body;
    return body;
  }

  async function token(request: Request): Promise<Response> {
    const accept = request.headers.get("accept") ?? "";
    const params = await readParams(request);
    if (params === undefined) return Response.json({ error: "invalid_request", error_description: "the body must be JSON" }, { status: 415 });
    seen.push({ endpoint: "token", params, accept, contentType: request.headers.get("content-type") ?? "" });
    if (!clientOk(request, params)) return error("client", accept);
    if (params.grant_type === "authorization_code") {
      const bound = codes.get(params.code ?? "");
      codes.delete(params.code ?? "");
      const verifier = params.code_verifier ?? "";
      const pkceOk = bound?.challenge === "" ? verifier === "" : createHash("sha256").update(verifier).digest("base64url") === bound?.challenge;
      if (bound === undefined || bound.redirectUri !== params.redirect_uri || !pkceOk) return error("code", accept);
      return answer(tokens(bound.scope, o.refresh !== "never"), accept);
    }
    if (params.grant_type === "refresh_token" && o.refresh !== "never") {
      const presented = params.refresh_token ?? "";
      if ((refreshTokens.get(presented) ?? 0) <= Date.now()) return error("refresh", accept);
      if (o.refresh === "rotate") refreshTokens.set(presented, Date.now() + (o.reuseIntervalMs ?? 0));
      return answer(tokens(params.scope ?? "", o.refresh === "rotate"), accept);
    }
    return answer({ error: "unsupported_grant_type" }, accept, 400);
  }

  async function revoke(request: Request): Promise<Response> {
    const params = await readParams(request) ?? {};
    seen.push({ endpoint: "revoke", params, accept: request.headers.get("accept") ?? "", contentType: request.headers.get("content-type") ?? "" });
    if (!clientOk(request, params)) return error("client", request.headers.get("accept") ?? "");
    const token = params.token ?? "";
    refreshTokens.delete(token);
    revoked.add(token);
    return o.wire === "ok_false" ? Response.json({ ok: true, revoked: true }) : new Response(null, { status: 200 });
  }

  return {
    seen,
    get lastAnswer() {
      return lastAnswer;
    },
    revoked,
    usableRefreshTokens: () => [...refreshTokens].filter(([, until]) => until > Date.now()).map(([t]) => t),
    authorize(authUrl) {
      const u = new URL(authUrl);
      const code = `code-${randomBytes(8).toString("hex")}`;
      const scope = u.searchParams.get("scope") ?? "";
      codes.set(code, { redirectUri: u.searchParams.get("redirect_uri") ?? "", challenge: u.searchParams.get("code_challenge") ?? "", scope });
      const back = new URL(u.searchParams.get("redirect_uri")!);
      back.searchParams.set("code", code);
      back.searchParams.set("state", u.searchParams.get("state") ?? "");
      return back;
    },
    killRefreshTokens() {
      refreshTokens.clear();
    },
    async handle(request) {
      const url = request.url.replace(/\?.*$/, "");
      if (request.method === "POST" && url === o.tokenUrl) return token(request);
      if (request.method === "POST" && o.revocationUrl !== undefined && url === o.revocationUrl) return revoke(request);
      return new Response("not found", { status: 404 });
    },
  };
}

function setPath(target: Record<string, unknown>, path: string, value: string): void {
  const parts = path.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    node[part] = typeof node[part] === "object" && node[part] !== null ? node[part] : {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}

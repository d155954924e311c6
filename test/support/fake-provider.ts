/**
 * A scriptable OAuth 2.0 / OIDC provider for FAULT INJECTION only: discovery,
 * JWKS, an authorization endpoint that redirects straight back, and a token
 * endpoint whose next answers a test decides (500, 429 with Retry-After,
 * HTML, a hang, a bad id_token...). Real flows are tested against
 * oidc-provider (test-idp.ts); this exists for what a real provider will not do
 * on demand.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from "jose";

/** What the token endpoint answers next. */
export type TokenScript =
  | {
    kind: "ok"; accessTokenTtl?: number; rotate?: boolean; omitRefreshToken?: boolean; idToken?: (claims: JWTPayload) => JWTPayload | Promise<string>;
    extra?: Record<string, unknown>;
    /** Holds the answer back this long after the work (and any rotation) is done. */
    answerDelayMs?: number;
  }
  | { kind: "status"; status: number; body?: string; contentType?: string; retryAfter?: string }
  | { kind: "hang" };

/** One request the token endpoint saw. */
export interface SeenTokenRequest {
  readonly grantType: string;
  readonly params: URLSearchParams;
  readonly authorization: string | undefined;
  readonly at: number;
}

/** A running fake provider. */
export interface FakeProvider {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Answers for the next token requests, in order; when empty, "ok". */
  readonly script: TokenScript[];
  readonly seen: SeenTokenRequest[];
  /** Token requests scripted to hang that the caller gave up on (the connection closed). */
  readonly abandoned: { count: number };
  /** Refresh tokens currently valid (rotation invalidates the old one). */
  readonly validRefreshTokens: Set<string>;
  /** Signs an id_token with the provider's key. */
  signIdToken(claims: JWTPayload): Promise<string>;
  /** Builds the redirect the browser would bring back for an authorization URL. */
  authorize(authUrl: string, extra?: Record<string, string>): URL;
  close(): Promise<void>;
}

/** Starts the fake on 127.0.0.1 with an ephemeral port. */
export async function startFakeProvider(options: {
  issRequired?: boolean;
  /** A rotated refresh token stays usable this long (a reuse interval, as Okta and Auth0 offer). */
  reuseGraceMs?: number;
} = {}): Promise<FakeProvider> {
  const { publicKey, privateKey } = await generateKeyPair("RS256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "fake-1", alg: "RS256", use: "sig" };
  const clientId = "fake-client";
  const clientSecret = `fake-secret-${randomBytes(4).toString("hex")}`;
  const script: TokenScript[] = [];
  const seen: SeenTokenRequest[] = [];
  const validRefreshTokens = new Set<string>();
  const nonces = new Map<string, string>();
  const hanging = new Set<ServerResponse>();
  const abandoned = { count: 0 };
  /** Rotated-away refresh tokens still inside the reuse interval, and until when. */
  const retired = new Map<string, number>();
  let issuer = "";

  const signIdToken = (claims: JWTPayload) =>
    new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: "fake-1" }).sign(privateKey);

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const params = new URLSearchParams(await body(req));
    seen.push({ grantType: params.get("grant_type") ?? "", params, authorization: req.headers.authorization, at: Date.now() });
    const step = script.shift() ?? { kind: "ok" };
    if (step.kind === "hang") {
      hanging.add(res);
      res.once("close", () => {
        if (hanging.delete(res)) abandoned.count++;
      });
      return;
    }
    if (step.kind === "status") {
      res.writeHead(step.status, { "content-type": step.contentType ?? "application/json", ...(step.retryAfter === undefined ? {} : { "retry-after": step.retryAfter }) });
      res.end(step.body ?? JSON.stringify({ error: step.status === 400 ? "invalid_grant" : "server_error" }));
      return;
    }
    if (params.get("grant_type") === "refresh_token") {
      const presented = params.get("refresh_token") ?? "";
      const graced = (retired.get(presented) ?? 0) > Date.now();
      if (!validRefreshTokens.has(presented) && !graced) {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: "invalid_grant" }));
        return;
      }
      if (step.rotate !== false && validRefreshTokens.delete(presented) && (options.reuseGraceMs ?? 0) > 0) {
        retired.set(presented, Date.now() + options.reuseGraceMs!);
      }
    }
    const accessToken = `fake-at-${randomBytes(12).toString("hex")}`;
    const out: Record<string, unknown> = { access_token: accessToken, token_type: "bearer", expires_in: step.accessTokenTtl ?? 3600, ...step.extra };
    if (!step.omitRefreshToken && (params.get("grant_type") === "authorization_code" || step.rotate !== false)) {
      const rt = `fake-rt-${randomBytes(12).toString("hex")}`;
      validRefreshTokens.add(rt);
      out.refresh_token = rt;
    }
    const nonce = nonces.get(params.get("code") ?? "");
    if (params.get("grant_type") === "authorization_code" && nonce !== undefined) {
      const now = Math.floor(Date.now() / 1000);
      const base: JWTPayload = { iss: issuer, aud: clientId, sub: "fake-user", iat: now, exp: now + 300, nonce };
      if (step.idToken === undefined) out.id_token = await signIdToken(base);
      else {
        const made = await step.idToken(base);
        out.id_token = typeof made === "string" ? made : await signIdToken(made);
      }
    }
    const answer = () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(out));
    };
    if ((step.answerDelayMs ?? 0) > 0) setTimeout(answer, step.answerDelayMs);
    else answer();
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", issuer);
    if (url.pathname === "/.well-known/openid-configuration") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({
        issuer, authorization_endpoint: `${issuer}/authorize`, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks`,
        revocation_endpoint: `${issuer}/revoke`, token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
        authorization_response_iss_parameter_supported: options.issRequired ?? false, code_challenge_methods_supported: ["S256"],
      }));
    } else if (url.pathname === "/jwks") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys: [jwk] }));
    } else if (url.pathname === "/token" && req.method === "POST") {
      token(req, res).catch(() => res.destroy());
    } else if (url.pathname === "/revoke") {
      void body(req).then(() => {
        res.writeHead(200);
        res.end();
      });
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  return {
    issuer, clientId, clientSecret, script, seen, validRefreshTokens, signIdToken, abandoned,
    authorize(authUrl, extra = {}) {
      const u = new URL(authUrl);
      const code = `code-${randomBytes(8).toString("hex")}`;
      const nonce = u.searchParams.get("nonce");
      if (nonce !== null) nonces.set(code, nonce);
      const back = new URL(u.searchParams.get("redirect_uri")!);
      back.searchParams.set("code", code);
      back.searchParams.set("state", u.searchParams.get("state") ?? "");
      for (const [k, v] of Object.entries(extra)) back.searchParams.set(k, v);
      return back;
    },
    async close() {
      const open = [...hanging];
      hanging.clear();
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

async function body(req: IncomingMessage): Promise<string> {
  let text = "";
  for await (const chunk of req) text += chunk;
  return text;
}

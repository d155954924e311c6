import { type CallOptions, Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { ProviderTemplate } from "../../../gen/nexus/broker/v1/provider_service_pb.ts";
import type { GatewayService } from "../../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import { reasonOf, withReason } from "../../shared/connect-errors.ts";
import { NexusError } from "../../shared/errors.ts";
import type { Logger } from "../../shared/logger.ts";
import { kCaller } from "../../shared/request-context.ts";
import { basicCredentials, kAgentCredential } from "../agent-auth.ts";
import type { BrokerClients } from "../broker-clients.ts";
import type { CachedTokenReads } from "../cached-token-reads.ts";
import { assertionAlgorithms } from "../../shared/assertion-algorithms.ts";

/**
 * The public GatewayService: each RPC makes one call to the Broker
 * (ListProviders two, when a provider came from a template) carrying
 * the agent's deadline, cancellation and identity. Input was checked before
 * (`createInputValidation`, by the rules the contract names, the same as the
 * Broker's). The Broker's errors reach the agent with their code and details.
 */
export function createGatewayHandlers(
  broker: BrokerClients, logger: Logger, publicUrl: string, cached: { tokens?: CachedTokenReads } = {},
): ServiceImpl<typeof GatewayService> {
  const tokens = cached.tokens;
  function options(ctx: HandlerContext): CallOptions {
    const timeoutMs = ctx.timeoutMs();
    const caller = ctx.values.get(kCaller);
    const credential = ctx.values.get(kAgentCredential);
    // A registered agent's credential goes to the Broker, which checks it and the agent's access; an unscoped key is only named.
    // The public URL goes on every call: it is the audience of assertions and the issuer of session tokens.
    const headers: Record<string, string> = credential !== ""
      ? { "x-nexus-agent-credential": credential, "x-nexus-audience": publicUrl }
      : caller !== "" ? { "x-nexus-caller": caller, "x-nexus-audience": publicUrl } : { "x-nexus-audience": publicUrl };
    return { signal: ctx.signal, ...(timeoutMs === undefined ? {} : { timeoutMs }), headers };
  }

  async function relay<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw relayError(error, logger);
    }
  }

  return {
    async requestConnection(req, ctx) {
      const { userId: workspaceId, providerName, providerId, scopes, returnUrl } = req;
      const r = await relay(() => broker.connections.startConnection({ workspaceId, providerName, providerId, scopes, returnUrl }, options(ctx)));
      return { authUrl: r.authUrl, connectionId: r.connectionId, state: r.state, providerId: r.providerId, scopes: r.scopes, expiresAt: r.expiresAt };
    },
    async checkConnection(req, ctx) {
      const r = await relay(() => broker.connections.getConnection({ connectionId: req.connectionId }, options(ctx)));
      return { status: r.connection?.status ?? "", reason: r.connection?.statusReason ?? "" };
    },
    async getToken(req, ctx) {
      ctx.responseHeader.set("cache-control", "no-store");
      const connectionId = req.connectionId;
      const credential = await relay(async () => tokens === undefined
        ? (await broker.connections.getToken({ connectionId }, options(ctx))).credential
        : tokens.get(connectionId, ctx, () => options(ctx)));
      return credential === undefined ? {} : { credential };
    },
    async refreshToken(req, ctx) {
      ctx.responseHeader.set("cache-control", "no-store");
      const r = await relay(() => broker.connections.refreshToken({ connectionId: req.connectionId }, options(ctx)));
      return r.credential === undefined ? {} : { credential: r.credential };
    },
    async resolveToken(req, ctx) {
      ctx.responseHeader.set("cache-control", "no-store");
      const r = await relay(() => broker.connections.resolveToken({ workspaceId: req.workspaceId, providerName: req.providerName }, options(ctx)));
      return { connectionId: r.connectionId, ...(r.credential === undefined ? {} : { credential: r.credential }) };
    },
    async listProviders(_req, ctx) {
      const r = await relay(() => broker.providers.listProviders({}, options(ctx)));
      // A second call only when a provider came from a template: its setup notes are in the catalogue.
      const templates = r.providers.some((p) => p.template !== "")
        ? new Map((await relay(() => broker.providers.listProviderTemplates({}, options(ctx)))).templates.map((t) => [t.name, t]))
        : new Map<string, ProviderTemplate>();
      return {
        providers: r.providers.map((p) => {
          const t = templates.get(p.template);
          return {
            id: p.id, name: p.name, authType: p.authType, category: p.category, description: p.description, scopes: p.scopes,
            ...(t === undefined ? {} : {
              template: {
                name: t.name, displayName: t.displayName, docsUrl: t.docsUrl, consoleUrl: t.setup?.consoleUrl ?? "",
                redirectUri: t.setup?.redirectUri ?? "", setupSteps: [...(t.setup?.steps ?? [])], refresh: t.setup?.refresh ?? "",
              },
            }),
          };
        }),
      };
    },
    async getCaptureSchema(req, ctx) {
      const r = await relay(() => broker.connections.getCaptureSchema({ state: req.state }, options(ctx)));
      return { providerName: r.providerName, ...(r.schema === undefined ? {} : { schema: r.schema }) };
    },
    async createSession(req, ctx) {
      const r = await relay(() => broker.sessions.createSession({ ...(req.spec === undefined ? {} : { spec: req.spec }) }, options(ctx)));
      ctx.responseHeader.set("x-http-code", "201");
      ctx.responseHeader.set("cache-control", "no-store");
      return r.session === undefined ? {} : { session: r.session };
    },
    async getSession(req, ctx) {
      const r = await relay(() => broker.sessions.getSession({ sessionId: req.sessionId }, options(ctx)));
      return r.session === undefined ? {} : { session: r.session };
    },
    async revokeSession(req, ctx) {
      const r = await relay(() => broker.sessions.revokeSession({ sessionId: req.sessionId }, options(ctx)));
      return { revokedCount: r.revokedCount, ...(r.session === undefined ? {} : { session: r.session }) };
    },
    async exchangeToken(req, ctx) {
      ctx.responseHeader.set("cache-control", "no-store");
      ctx.responseHeader.set("pragma", "no-cache");
      // client_secret_basic names the client too: the Broker checks it is the agent whose key came with it, as it does a form's client_id.
      const basic = basicCredentials(ctx.requestHeader.get("authorization"));
      let exchange = req.exchange;
      if (basic !== undefined && exchange !== undefined) {
        if (exchange.clientId !== "" && exchange.clientId !== basic.clientId) {
          throw new NexusError("invalid_client", "client_id in the form is not the client id of the Authorization header");
        }
        exchange = { ...exchange, clientId: basic.clientId };
      }
      const r = await relay(() => broker.sessions.exchangeToken({ ...(exchange === undefined ? {} : { exchange }) }, options(ctx)));
      return r.result === undefined ? {} : { result: r.result };
    },
    async getJwks(_req, ctx) {
      ctx.responseHeader.set("cache-control", "public, max-age=60");
      const r = await relay(() => broker.sessions.getSessionKeys({}, options(ctx)));
      return r.jwks === undefined ? {} : { jwks: r.jwks };
    },
    async getAuthorizationServerMetadata(_req, ctx) {
      ctx.responseHeader.set("cache-control", "public, max-age=300");
      return {
        metadata: {
          issuer: publicUrl,
          tokenEndpoint: `${publicUrl}/v1/token-exchange`,
          jwksUri: `${publicUrl}/.well-known/jwks.json`,
          grantTypesSupported: ["urn:ietf:params:oauth:grant-type:token-exchange"],
          tokenEndpointAuthMethodsSupported: ["private_key_jwt", "client_secret_basic"],
          tokenEndpointAuthSigningAlgValuesSupported: [...assertionAlgorithms],
          tokenExchangeSubjectTokenTypesSupported: ["urn:ietf:params:oauth:token-type:jwt"],
        },
      };
    },
    async captureCredential(req, ctx) {
      const r = await relay(() => broker.connections.captureCredential({ state: req.state, credentials: req.credentials }, options(ctx)));
      return { connectionId: r.connectionId, status: r.status };
    },
  };
}

/**
 * An error from the Broker, as the agent should see it. The Broker's own
 * errors keep their code, message and every detail (reason, field, retry
 * hint), but not the Broker's response headers.
 * Transport failures become `unavailable` without the socket's details, and
 * the Broker refusing the Gateway's own key is an operator's fault, not the
 * agent's: it is logged and reported as internal.
 */
export function relayError(error: unknown, logger: Logger): ConnectError {
  const err = ConnectError.from(error);
  const reason = reasonOf(err);
  if (reason === "unauthenticated") {
    logger.error("the Broker refused BROKER_API_KEY: set the Gateway's BROKER_API_KEY to one of the Broker's API_KEY values", { rpc_code: Code[err.code] });
    return withReason("internal", "the Gateway cannot authenticate to the Broker");
  }
  if (reason !== undefined) {
    const relayed = new ConnectError(err.rawMessage, err.code);
    relayed.details = err.details;
    return relayed;
  }
  switch (err.code) {
    case Code.Unavailable:
      return withReason("unavailable", "the Broker is not reachable; try again shortly");
    case Code.DeadlineExceeded:
      return withReason("deadline_exceeded", "the Broker did not answer within the deadline");
    case Code.Canceled:
    case Code.Aborted:
      // The agent hung up (connect-node reports a reset connection as aborted) and its call to the
      // Broker was cut short with it: nothing failed on this side, and nobody is left to answer.
      logger.debug("client went away before the Broker answered", { rpc_code: Code[err.code] });
      return new ConnectError("canceled: the client went away", Code.Canceled);
    default:
      logger.error("unexpected Broker error: look up this request_id in the Broker's log for its cause", { rpc_code: Code[err.code], err });
      return withReason("internal", "an internal error occurred");
  }
}

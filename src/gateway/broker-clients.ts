import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { ConnectionService } from "../../gen/nexus/broker/v1/connection_service_pb.ts";
import { ProviderService } from "../../gen/nexus/broker/v1/provider_service_pb.ts";
import { SessionService } from "../../gen/nexus/broker/v1/session_service_pb.ts";
import { TokenCacheService } from "../../gen/nexus/broker/v1/token_cache_service_pb.ts";
import { Health } from "../../gen/grpc/health/v1/health_pb.ts";

/** The Broker, as the Gateway reaches it: generated clients over one transport. */
export interface BrokerClients {
  readonly providers: Client<typeof ProviderService>;
  readonly connections: Client<typeof ConnectionService>;
  readonly sessions: Client<typeof SessionService>;
  /** The change stream and the report of cached reads (the Gateway's token cache). */
  readonly tokenCache: Client<typeof TokenCacheService>;
  readonly health: Client<typeof Health>;
}

/**
 * Makes the transport to the Broker; the runtime decides how (Connect over
 * kept-alive HTTP/1.1 on Node and Deno). It must carry unary calls and the
 * one server stream the token cache watches.
 */
export type BrokerTransportFactory = (interceptors: Interceptor[]) => Transport;

/**
 * Creates the Broker clients. Every call carries the Gateway's Broker key; a
 * key is never logged or forwarded anywhere else.
 */
export function createBrokerClients(makeTransport: BrokerTransportFactory, brokerApiKey: string): BrokerClients {
  const withKey: Interceptor = (next) => (request) => {
    request.header.set("x-api-key", brokerApiKey);
    return next(request);
  };
  const transport = makeTransport([withKey]);
  return {
    providers: createClient(ProviderService, transport),
    connections: createClient(ConnectionService, transport),
    sessions: createClient(SessionService, transport),
    tokenCache: createClient(TokenCacheService, transport),
    health: createClient(Health, transport),
  };
}

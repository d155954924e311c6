import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AgentService } from "../../gen/nexus/broker/v1/agent_service_pb.ts";
import { AuditService } from "../../gen/nexus/broker/v1/audit_service_pb.ts";
import { ConnectionService } from "../../gen/nexus/broker/v1/connection_service_pb.ts";
import { ProviderService } from "../../gen/nexus/broker/v1/provider_service_pb.ts";
import { SessionService } from "../../gen/nexus/broker/v1/session_service_pb.ts";
import { StatusService } from "../../gen/nexus/broker/v1/status_service_pb.ts";
import { Health } from "../../gen/grpc/health/v1/health_pb.ts";

/** The Broker's admin API, as the generated Connect clients. */
export interface BrokerAdmin {
  readonly url: string;
  readonly providers: Client<typeof ProviderService>;
  readonly agents: Client<typeof AgentService>;
  readonly connections: Client<typeof ConnectionService>;
  readonly sessions: Client<typeof SessionService>;
  readonly audit: Client<typeof AuditService>;
  readonly status: Client<typeof StatusService>;
  readonly health: Client<typeof Health>;
}

/**
 * The Broker admin clients over the Connect protocol (JSON), each call with
 * the admin key: the generated contract, never hand-written HTTP.
 */
export function createBrokerAdmin(options: { url: string; adminKey: string; fetch: typeof fetch }): BrokerAdmin {
  const withKey: Interceptor = (next) => (request) => {
    request.header.set("x-api-key", options.adminKey);
    request.header.set("user-agent", "nexus-cli");
    return next(request);
  };
  const transport = createConnectTransport({ baseUrl: options.url, interceptors: [withKey], fetch: options.fetch });
  return {
    url: options.url,
    providers: createClient(ProviderService, transport),
    agents: createClient(AgentService, transport),
    connections: createClient(ConnectionService, transport),
    sessions: createClient(SessionService, transport),
    audit: createClient(AuditService, transport),
    status: createClient(StatusService, transport),
    health: createClient(Health, transport),
  };
}

import type { ServiceImpl } from "@connectrpc/connect";
import type { GatewayService } from "../../../gen/nexus/gateway/v1/gateway_service_pb.ts";
import type { BrokerClients } from "../broker-clients.ts";

/** The public GatewayService RPCs, each a validated call to the Broker. */
export function createGatewayHandlers(broker: BrokerClients): Partial<ServiceImpl<typeof GatewayService>> {
  return {
    async listProviders(_request, context) {
      const res = await broker.providers.listProviders({}, { signal: context.signal });
      return {
        providers: res.providers.map((p) => ({
          id: p.id,
          name: p.name,
          authType: p.authType,
          category: p.category,
          description: p.description,
          scopes: p.scopes,
        })),
      };
    },
  };
}

import type { ServiceImpl } from "@connectrpc/connect";
import type { ProviderService as ProviderServiceDesc } from "../../../gen/nexus/broker/v1/provider_service_pb.ts";
import type { ProviderService } from "../services/provider-service.ts";
import { providerToProto } from "./provider-mapping.ts";

/** The ProviderService RPCs: proto in, proto out. Errors are mapped by the error interceptor. */
export function createProviderHandlers(providers: ProviderService): Partial<ServiceImpl<typeof ProviderServiceDesc>> {
  return {
    async listProviders() {
      return { providers: (await providers.list()).map(providerToProto) };
    },
  };
}

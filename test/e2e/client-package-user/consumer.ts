// A TypeScript user of both entries, checked by tsc with the settings `tsc --init` writes.
import { type Credential, createNexusClient, type NexusClient, NexusClientError } from "@nexus-broker/client";
import { type GrpcTransport, grpcTransport } from "@nexus-broker/client/node";

export function connect(baseUrl: string, apiKey: string): { nexus: NexusClient; transport: GrpcTransport } {
  const transport = grpcTransport(baseUrl);
  return { nexus: createNexusClient({ baseUrl, apiKey, transport }), transport };
}

export async function tokenOrReason(nexus: NexusClient, connectionId: string): Promise<Credential | string> {
  try {
    return await nexus.getToken(connectionId, { timeoutMs: 5000 });
  } catch (error) {
    if (error instanceof NexusClientError) return `${error.code}/${error.reason}`;
    throw error;
  }
}

// The types are real (not any): each misuse below must be an error, or tsc reports an unused directive.
// @ts-expect-error baseUrl is a string
createNexusClient({ baseUrl: 8090 });
// @ts-expect-error grpcTransport takes the Gateway's URL
grpcTransport(8090);
export async function misuse(nexus: NexusClient): Promise<void> {
  // @ts-expect-error expiresAt is a number of seconds
  const expires: string = (await nexus.getToken("id")).expiresAt;
  void expires;
}

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const protoDir = new URL("../../proto/", import.meta.url).pathname;

/** A unary method of a grpc-js client, promisified. */
export type UnaryCall = (request: object, metadata?: Record<string, string>, deadlineMs?: number) => Promise<Record<string, unknown>>;

/** An error from grpc-js: its status code, message and metadata. */
export interface GrpcJsError extends Error {
  code: number;
  details: string;
  metadata: grpc.Metadata;
}

/**
 * A client from @grpc/grpc-js (not connect-es) built by loading the .proto
 * files at runtime, so tests prove any gRPC stack can talk to Nexus.
 */
export function grpcJsClient(address: string, file: string, service: string): Record<string, UnaryCall> & { close(): void } {
  const definition = protoLoader.loadSync(file, { includeDirs: [protoDir], keepCase: true, longs: String, enums: String, defaults: false, oneofs: true });
  const pkg = grpc.loadPackageDefinition(definition);
  const Ctor = service.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], pkg) as grpc.ServiceClientConstructor;
  const client = new Ctor(address.replace(/^http:\/\//, ""), grpc.credentials.createInsecure());
  const calls: Record<string, UnaryCall> = {};
  for (const name of Object.keys(Ctor.service)) {
    calls[name] = (request, metadata = {}, deadlineMs = 10_000) =>
      new Promise((resolve, reject) => {
        const md = new grpc.Metadata();
        for (const [k, v] of Object.entries(metadata)) md.set(k, v);
        const fn = (client as unknown as Record<string, Function>)[name]!.bind(client);
        fn(request, md, { deadline: Date.now() + deadlineMs }, (error: GrpcJsError | null, response: Record<string, unknown>) =>
          error ? reject(error) : resolve(response));
      });
  }
  return Object.assign(calls, { close: () => client.close() });
}

export { grpc };

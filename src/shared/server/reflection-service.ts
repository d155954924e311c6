import type { DescFile, DescService } from "@bufbuild/protobuf";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import { ServerReflection as ServerReflectionV1 } from "../../../gen/grpc/reflection/v1/reflection_pb.ts";
import { ServerReflection as ServerReflectionV1alpha } from "../../../gen/grpc/reflection/v1alpha/reflection_pb.ts";
import { createReflectionIndex, type ReflectionIndex } from "./reflection-index.ts";

/**
 * The request oneof of both reflection versions: v1 and v1alpha differ only in
 * their package, so one answer function serves both.
 */
type ReflectionQuery =
  | { case: "fileByFilename"; value: string }
  | { case: "fileContainingSymbol"; value: string }
  | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
  | { case: "allExtensionNumbersOfType"; value: string }
  | { case: "listServices"; value: string }
  | { case: undefined; value?: undefined };

/** The response oneof of both reflection versions, as plain init objects. */
type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/**
 * Registers gRPC server reflection, both `grpc.reflection.v1` and the older
 * `grpc.reflection.v1alpha` that some grpcurl builds still call, so that
 * `buf curl` and grpcurl can list and call methods without local protos.
 *
 * `services` are the services to advertise; the reflection services add
 * themselves. Every file they need, well-known types included, is reached
 * through the descriptors' dependencies, so nothing else has to be passed.
 */
export function registerReflection(router: ConnectRouter, services: readonly DescService[]): void {
  const index = createReflectionIndex([...services, ServerReflectionV1, ServerReflectionV1alpha]);
  router.service(ServerReflectionV1, {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) {
        yield { validHost: request.host, originalRequest: request, messageResponse: answer(index, request.messageRequest) };
      }
    },
  });
  router.service(ServerReflectionV1alpha, {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) {
        yield { validHost: request.host, originalRequest: request, messageResponse: answer(index, request.messageRequest) };
      }
    },
  });
}

/**
 * Answers one reflection request. Failures become an `error_response` rather
 * than a thrown error, because a thrown error would end the whole stream and
 * clients ask many questions on one stream, some of them expected to miss.
 */
function answer(index: ReflectionIndex, query: ReflectionQuery): ReflectionAnswer {
  switch (query.case) {
    case "listServices":
      return { case: "listServicesResponse", value: { service: index.serviceNames.map((name) => ({ name })) } };
    case "fileByFilename":
      return files(index, index.fileByName(query.value), `file not found: ${query.value}`);
    case "fileContainingSymbol": {
      const symbol = stripDot(query.value);
      return files(index, index.fileBySymbol(symbol), `symbol not found: ${symbol}`);
    }
    case "fileContainingExtension": {
      const typeName = stripDot(query.value.containingType);
      const number = query.value.extensionNumber;
      const ext = index.extensionsOf(typeName).find((e) => e.number === number);
      return files(index, ext?.file, `extension not found: ${typeName} ${number}`);
    }
    case "allExtensionNumbersOfType": {
      const typeName = stripDot(query.value);
      // A known message without extensions has an empty list, as grpc-go
      // answers; only an unknown type is an error.
      if (index.message(typeName) === undefined) return error(Code.NotFound, `type not found: ${typeName}`);
      const numbers = index.extensionsOf(typeName).map((e) => e.number);
      return { case: "allExtensionNumbersResponse", value: { baseTypeName: typeName, extensionNumber: numbers } };
    }
    case undefined:
      return error(Code.InvalidArgument, "the request sets no message_request");
  }
}

function files(index: ReflectionIndex, file: DescFile | undefined, notFound: string): ReflectionAnswer {
  if (file === undefined) return error(Code.NotFound, notFound);
  return { case: "fileDescriptorResponse", value: { fileDescriptorProto: index.closure(file) } };
}

function error(code: Code, message: string): ReflectionAnswer {
  return { case: "errorResponse", value: { errorCode: code, errorMessage: message } };
}

// Clients differ: grpcurl sends names as-is, others with the descriptor-style leading dot.
function stripDot(name: string): string {
  return name.startsWith(".") ? name.slice(1) : name;
}

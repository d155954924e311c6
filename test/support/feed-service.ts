/**
 * `test.feed.v1.FeedService` (proto/feed.proto next to this file), a
 * stand-in for a third-party streaming API. The .proto is parsed at runtime
 * by @grpc/proto-loader and its descriptor handed to protobuf-es, so there is
 * no generated code to keep in step; the message shapes below are declared by
 * hand and a unit test checks them against the descriptor.
 */
import { createFileRegistry, fromBinary, type Message } from "@bufbuild/protobuf";
import type { GenMessage, GenService } from "@bufbuild/protobuf/codegenv2";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import * as protoLoader from "@grpc/proto-loader";

export type SubscribeRequest = Message<"test.feed.v1.SubscribeRequest"> & { topic: string };
export type FeedEvent = Message<"test.feed.v1.FeedEvent"> & { stream: number; seq: number; topic: string };
export type ConverseRequest = Message<"test.feed.v1.ConverseRequest"> & { text: string };
export type ConverseReply = Message<"test.feed.v1.ConverseReply"> & { stream: number; seq: number; text: string };

/** The service descriptor, typed as protoc-gen-es would type it. */
export type FeedServiceDesc = GenService<{
  subscribe: { methodKind: "server_streaming"; input: GenMessage<SubscribeRequest>; output: GenMessage<FeedEvent> };
  converse: { methodKind: "bidi_streaming"; input: GenMessage<ConverseRequest>; output: GenMessage<ConverseReply> };
}>;

/** The path of the .proto. */
export const feedProtoPath = new URL("./proto/feed.proto", import.meta.url).pathname;

function loadFeedService(): FeedServiceDesc {
  const definition = protoLoader.loadSync(feedProtoPath, {});
  const message = Object.values(definition).find((d) => "fileDescriptorProtos" in d) as { fileDescriptorProtos: Buffer[] };
  const [file] = message.fileDescriptorProtos.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
  const service = createFileRegistry(file!, () => undefined).getService("test.feed.v1.FeedService");
  if (service === undefined) throw new Error(`${feedProtoPath} has no test.feed.v1.FeedService`);
  return service as unknown as FeedServiceDesc;
}

export const FeedService: FeedServiceDesc = loadFeedService();

import { toBinary, type DescEnum, type DescExtension, type DescFile, type DescMessage, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";

/**
 * What server reflection can look up: the files behind a set of services and
 * everything they import, by file name, by symbol and by extension.
 */
export interface ReflectionIndex {
  /** Fully-qualified names of the services the server exposes, each once. */
  readonly serviceNames: readonly string[];
  /** The file named `fileName` (with its `.proto` suffix), if known. */
  fileByName(fileName: string): DescFile | undefined;
  /** The file declaring a fully-qualified symbol (no leading dot), if known. */
  fileBySymbol(symbol: string): DescFile | undefined;
  /** The message named `typeName`, if known. */
  message(typeName: string): DescMessage | undefined;
  /** The extensions declared for the message `typeName`, in number order. */
  extensionsOf(typeName: string): readonly DescExtension[];
  /**
   * The serialized FileDescriptorProtos of `file` and of all it imports,
   * transitively, each once and `file` first: a client can only build a
   * descriptor pool from a closed set, so sending just the file is not enough.
   */
  closure(file: DescFile): Uint8Array[];
}

/**
 * Indexes the files of `services` and their transitive dependencies. Done
 * once per server, as the set of compiled-in descriptors never changes.
 */
export function createReflectionIndex(services: readonly DescService[]): ReflectionIndex {
  const serviceNames: string[] = [];
  const files = new Map<string, DescFile>();
  const symbols = new Map<string, DescFile>();
  const messages = new Map<string, DescMessage>();
  const extensions = new Map<string, DescExtension[]>();
  const encoded = new Map<DescFile, Uint8Array>();

  function addFile(file: DescFile): void {
    // Keyed by the proto name, so two copies of one file (e.g. a WKT bundled
    // twice) count once and the first one seen wins.
    if (files.has(file.proto.name)) return;
    files.set(file.proto.name, file);
    for (const dep of file.dependencies) addFile(dep);
    for (const service of file.services) {
      symbols.set(service.typeName, file);
      for (const method of service.methods) symbols.set(`${service.typeName}.${method.name}`, file);
    }
    for (const message of file.messages) addMessage(file, message);
    for (const desc of file.enums) addEnum(file, desc);
    for (const ext of file.extensions) addExtension(file, ext);
  }

  function addMessage(file: DescFile, message: DescMessage): void {
    symbols.set(message.typeName, file);
    messages.set(message.typeName, message);
    for (const field of message.fields) symbols.set(`${message.typeName}.${field.name}`, file);
    for (const oneof of message.oneofs) symbols.set(`${message.typeName}.${oneof.name}`, file);
    for (const nested of message.nestedMessages) addMessage(file, nested);
    // protobuf-es hides the synthetic entry messages of map fields, yet they
    // are real nested types in the descriptor that clients may ask about.
    for (const entry of message.proto.nestedType) {
      if (entry.options?.mapEntry !== true) continue;
      const entryName = `${message.typeName}.${entry.name}`;
      symbols.set(entryName, file);
      for (const field of entry.field) symbols.set(`${entryName}.${field.name}`, file);
    }
    for (const desc of message.nestedEnums) addEnum(file, desc);
    for (const ext of message.nestedExtensions) addExtension(file, ext);
  }

  function addEnum(file: DescFile, desc: DescEnum): void {
    symbols.set(desc.typeName, file);
    // Protobuf scopes enum values as siblings of their enum, not children.
    const scope = desc.typeName.slice(0, desc.typeName.length - desc.name.length);
    for (const value of desc.values) symbols.set(`${scope}${value.name}`, file);
  }

  function addExtension(file: DescFile, ext: DescExtension): void {
    symbols.set(ext.typeName, file);
    const list = extensions.get(ext.extendee.typeName) ?? [];
    list.push(ext);
    extensions.set(ext.extendee.typeName, list);
  }

  for (const service of services) {
    if (!serviceNames.includes(service.typeName)) serviceNames.push(service.typeName);
    addFile(service.file);
  }
  for (const list of extensions.values()) list.sort((a, b) => a.number - b.number);

  function encode(file: DescFile): Uint8Array {
    let bytes = encoded.get(file);
    if (bytes === undefined) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      encoded.set(file, bytes);
    }
    return bytes;
  }

  return {
    serviceNames,
    fileByName: (fileName) => files.get(fileName),
    fileBySymbol: (symbol) => symbols.get(symbol),
    message: (typeName) => messages.get(typeName),
    extensionsOf: (typeName) => extensions.get(typeName) ?? [],
    closure(file) {
      const seen = new Set([file.proto.name]);
      const deps: Uint8Array[] = [];
      // Post-order puts every import before its importers, so after the
      // requested file the answer reads as a buildable FileDescriptorSet.
      const visit = (f: DescFile): void => {
        for (const dep of f.dependencies) {
          if (seen.has(dep.proto.name)) continue;
          seen.add(dep.proto.name);
          visit(dep);
          deps.push(encode(dep));
        }
      };
      visit(file);
      return [encode(file), ...deps];
    },
  };
}

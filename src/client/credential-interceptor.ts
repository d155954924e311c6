import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.ts";
import { assertHostAllowed } from "./allowed-hosts.ts";
import type { Credential } from "./credential.ts";
import { credentialHeaders } from "./credential-headers.ts";
import { NexusClientError } from "./nexus-client-error.ts";

/** Supplies the current credential, for example `({ signal }) => cache.get({ connectionId }, { signal })`. */
export type CredentialSource = (options: { signal: AbortSignal }) => Credential | Promise<Credential>;

/**
 * A Connect interceptor that authenticates an agent's OWN outbound RPCs
 * (gRPC, gRPC-Web, Connect) to a third-party service with a Nexus
 * credential: before each call it asks `source` for the current credential
 * and sets the headers {@linkcode credentialHeaders} gives. A strategy that
 * cannot travel as metadata, or a service outside the credential's
 * `allowed_hosts`, fails the call before anything is sent, with a
 * ConnectError carrying the reason (`unsupported_strategy`, ...) in a
 * google.rpc.ErrorInfo detail and the NexusClientError as its `cause`.
 */
export function credentialInterceptor(source: CredentialSource): Interceptor {
  return (next) => async (req) => {
    let headers: Record<string, string>;
    try {
      const credential = await source({ signal: req.signal });
      assertHostAllowed(req.url, credential);
      headers = credentialHeaders(credential);
    } catch (error) {
      throw error instanceof NexusClientError ? asConnectError(error) : error;
    }
    for (const [name, value] of Object.entries(headers)) req.header.set(name, value);
    return next(req);
  };
}

/** Connect turns anything else thrown in an interceptor into `unknown`; keep the code and reason instead. */
function asConnectError(error: NexusClientError): ConnectError {
  const pascal = error.code.replace(/(^|_)([a-z])/g, (_m, _s: string, c: string) => c.toUpperCase()) as keyof typeof Code;
  const code = typeof Code[pascal] === "number" ? (Code[pascal] as Code) : Code.Unknown;
  const info = create(ErrorInfoSchema, { reason: error.reason, domain: "nexus.dev", metadata: { ...error.metadata } });
  return new ConnectError(error.message, code, undefined, [{ desc: ErrorInfoSchema, value: info }], error);
}

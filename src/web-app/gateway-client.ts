/**
 * The app's only way to the API: the generated GatewayService over gRPC-Web,
 * to the Gateway that served the page. gRPC-Web rather than REST so the app
 * exercises the same contract agents use, and rather than Connect JSON so
 * error details (google.rpc.ErrorInfo) arrive in the standard trailer.
 */
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.ts";
import { GatewayService } from "../../gen/nexus/gateway/v1/gateway_service_pb.ts";

/** A GatewayService client. */
export type GatewayClient = Client<typeof GatewayService>;

/** Options of {@linkcode createGatewayClient}. */
export interface GatewayClientOptions {
  /** The Gateway's origin, normally `location.origin`. */
  readonly baseUrl: string;
  /** The agent key as currently entered; read on every call so edits apply at once. */
  readonly agentKey: () => string;
}

/** Methods the Gateway serves without an agent key (see gatewayPublicProcedures). */
const publicMethods = new Set(["ListProviders", "GetCaptureSchema", "CaptureCredential"]);

/**
 * Creates the client. The agent key goes only on data-plane calls: the
 * browser-safe methods need none, and a secret not sent cannot leak.
 */
export function createGatewayClient(options: GatewayClientOptions): GatewayClient {
  const agentKey: Interceptor = (next) => (request) => {
    const key = options.agentKey().trim();
    if (key !== "" && !publicMethods.has(request.method.name)) request.header.set("authorization", `Bearer ${key}`);
    return next(request);
  };
  const transport = createGrpcWebTransport({ baseUrl: options.baseUrl, interceptors: [agentKey], defaultTimeoutMs: 20_000 });
  return createClient(GatewayService, transport);
}

/** A failure as the app shows it: a reason code to act on and a sentence. */
export interface Problem {
  /** Machine-readable, e.g. `credential_invalid`, `state_expired`, `unavailable`. */
  readonly reason: string;
  readonly message: string;
  /** What the user can do about it, when we know. */
  readonly hint?: string;
  /** The input field at fault, e.g. `credentials.api_key`, when the Gateway named one. */
  readonly field?: string;
}

const hints: Readonly<Record<string, string>> = {
  unauthenticated: "Check the agent key in step 1.",
  agent_key_invalid: "The agent key in step 1 is not a current key of a registered agent: mistyped, or replaced by a rotation. Enter a current one.",
  agent_disabled: "This agent is disabled. Enter the key of another agent in step 1.",
  agent_not_authorized: "Another agent started this connection, and only that agent may use it. Enter its key in step 1, or start a new connection.",
  provider_not_allowed: "This agent may not connect to that provider (see its allowed_providers). Pick another provider, or use another agent.",
  credential_invalid: "The provider rejected what you entered. Check it and submit again.",
  state_expired: "This attempt took too long. Start the connection again.",
  state_replayed: "This attempt was already used. Start the connection again.",
  state_invalid: "This attempt is not valid any more. Start the connection again.",
  connection_not_found: "Nexus knows no such connection. Start a new one.",
  attention_required: "The provider no longer accepts this connection. Start again to reconnect.",
  connection_revoked: "This connection was revoked. Start a new one.",
  access_denied: "Access was denied on the provider's page. Start again and choose Allow.",
  return_url_rejected: "The Broker does not accept this page as a return URL: add its host to ALLOWED_RETURN_DOMAINS.",
  provider_not_found: "That provider is not registered. Pick one from the list.",
  unavailable: "Nexus could not be reached. Try again in a moment.",
};

/** The reason code of a Connect code, e.g. `deadline_exceeded`. */
function codeReason(code: Code): string {
  return Code[code].replace(/[A-Z]/g, (c, i: number) => `${i === 0 ? "" : "_"}${c.toLowerCase()}`);
}

/**
 * Explains any failure of a call from its code and details, never its text:
 * the reason from the ErrorInfo detail (else the Connect code; a network
 * failure is `unavailable`), the field from the BadRequest detail. The
 * sentence shown is the message without the reason Nexus puts in front of it
 * for people reading raw errors.
 */
export function explainError(error: unknown): Problem {
  const e = ConnectError.from(error);
  const reason = e.findDetails(ErrorInfoSchema).find((i) => i.reason !== "")?.reason ?? codeReason(e.code);
  const field = e.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field;
  const prefix = `${reason}: `;
  const message = e.rawMessage.startsWith(prefix) ? e.rawMessage.slice(prefix.length) : e.rawMessage;
  const p = problem(reason, message === "" ? "The call failed." : message);
  return field === undefined ? p : { ...p, field };
}

/** A problem from a reason code that arrived without a call (the return URL's `error=`). */
export function problem(reason: string, message: string): Problem {
  const hint = hints[reason];
  return hint === undefined ? { reason, message } : { reason, message, hint };
}

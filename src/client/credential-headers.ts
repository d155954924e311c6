import type { Credential } from "./credential.ts";
import { encodeBase64 } from "./encode-base64.ts";
import { credentialInvalid, readStrategy, unsupportedStrategy } from "./read-strategy.ts";

const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const unsafeValue = /[\r\n\0]/;

/**
 * The headers that carry a credential, for places where only headers can:
 * gRPC and Connect metadata, WebSocket handshakes. Names are lowercase (gRPC
 * metadata requires it). Supports `oauth2` (`authorization: Bearer`),
 * `header` (`header_name`: `value_prefix` + the `credential_field` value) and
 * `basic_auth`. `query_param` belongs in a URL (see `applyCredentialToUrl`),
 * and `hmac_payload` / `aws_sigv4` sign a whole HTTP request (see
 * `applyCredential`): asking for them here is an `unsupported_strategy` error,
 * never an unauthenticated call.
 */
export function credentialHeaders(credential: Credential): Record<string, string> {
  const s = readStrategy(credential);
  switch (s.type) {
    case "oauth2":
      return checked("authorization", `Bearer ${s.field("access_token")}`);
    case "header": {
      const name = s.requiredConfig("header_name");
      if (!headerName.test(name)) throw credentialInvalid(`config "header_name" is not a valid HTTP header name`);
      return checked(name.toLowerCase(), `${s.config("value_prefix", "")}${s.field(s.config("credential_field", "api_key"))}`);
    }
    case "basic_auth": {
      const user = s.field(s.config("username_field", "username"));
      const password = s.field(s.config("password_field", "password"));
      if (user.includes(":")) throw credentialInvalid("the basic_auth user name contains a colon, which basic auth cannot carry");
      return checked("authorization", `Basic ${encodeBase64(`${user}:${password}`)}`);
    }
    case "query_param":
      throw unsupportedStrategy("query_param credentials travel in the URL, not in headers: use applyCredentialToUrl (WebSockets) or applyCredential (fetch)");
    case "hmac_payload":
    case "aws_sigv4":
      throw unsupportedStrategy(`${s.type} signs an HTTP request body, so it cannot be sent as metadata or handshake headers: use applyCredential on a fetch Request`);
    case "":
      throw credentialInvalid("the credential has no strategy type");
    default:
      throw unsupportedStrategy(`unknown strategy type "${s.type}"; refusing to send the request unauthenticated`);
  }
}

function checked(name: string, value: string): Record<string, string> {
  if (unsafeValue.test(value)) throw credentialInvalid(`the value for header "${name}" contains a line break or NUL`);
  return { [name]: value };
}

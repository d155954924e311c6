import { assertHostAllowed } from "./allowed-hosts.ts";
import type { Credential } from "./credential.ts";
import { credentialInvalid, readStrategy, unsupportedStrategy } from "./read-strategy.ts";

/**
 * Puts a `query_param` credential into a URL: parameter `param_name` set to
 * the `credential_field` value. The existing query is kept byte for byte (only
 * an earlier parameter of the same name is replaced), so signed or
 * order-sensitive URLs survive. Other strategies do not travel in URLs: they
 * are an `unsupported_strategy` error (use `credentialHeaders`). A URL outside
 * the credential's `allowed_hosts` is `host_not_allowed`.
 */
export function applyCredentialToUrl(url: string | URL, credential: Credential): URL {
  const s = readStrategy(credential);
  if (s.type === "") throw credentialInvalid("the credential has no strategy type");
  if (s.type !== "query_param") {
    throw unsupportedStrategy(`the ${s.type} strategy is not carried in a URL: send credentialHeaders(credential) instead`);
  }
  assertHostAllowed(url, credential);
  const name = s.requiredConfig("param_name");
  const value = s.field(s.config("credential_field", "api_key"));
  const target = new URL(url);
  const kept = target.search.slice(1).split("&").filter((pair) => pair !== "" && keyOf(pair) !== name);
  kept.push(`${encodeURIComponent(name)}=${encodeURIComponent(value)}`);
  target.search = `?${kept.join("&")}`;
  return target;
}

function keyOf(pair: string): string | undefined {
  try {
    return decodeURIComponent((pair.split("=", 1)[0] ?? "").replace(/\+/g, " "));
  } catch {
    return undefined;
  }
}

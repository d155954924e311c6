import { NexusError } from "../../shared/errors.ts";
import { resolveOnOrigin } from "../domain/outbound-url-policy.ts";
import type { Provider, Strategy } from "../domain/provider.ts";
import { type FetchLike, fetchWithTimeout } from "../oauth/fetch-with-timeout.ts";

/** What the live check uses. */
export interface CredentialCheckDeps {
  readonly fetch: FetchLike;
  readonly settings: {
    /** Accept http provider URLs on loopback hosts (development and tests only). */
    readonly allowHttpLoopback: boolean;
    /** Deadline of the call to the provider. */
    readonly providerTimeoutMs: number;
  };
}

/**
 * Checks a captured credential against the provider's API when the provider
 * names both `api_base_url` and `user_info_endpoint`: 401 or 403 means the
 * user typed a wrong key; a provider that is down cannot tell, so the user may
 * retry. Strategies that sign the request (HMAC, SigV4) are not checked here.
 * The key only ever goes to api_base_url's origin: user_info_endpoint is
 * resolved against it and checked again here, before the key is attached, so
 * a provider stored before that rule cannot send it elsewhere.
 */
export async function checkCredentialLive(
  deps: CredentialCheckDeps,
  provider: Provider,
  strategy: Strategy,
  credentials: Readonly<Record<string, string>>,
  signal?: AbortSignal,
): Promise<"checked" | "skipped"> {
  if (provider.apiBaseUrl === "" || provider.userInfoEndpoint === "") return "skipped";
  const url = resolveOnOrigin(provider.userInfoEndpoint, provider.apiBaseUrl, {
    field: "user_info_endpoint",
    policy: { allowLoopback: deps.settings.allowHttpLoopback },
  });
  const headers = new Headers({ accept: "application/json" });
  const c = strategy.config;
  switch (strategy.type) {
    case "header":
      headers.set(c.header_name!, `${c.value_prefix ?? ""}${credentials[c.credential_field!] ?? ""}`);
      break;
    case "query_param":
      url.searchParams.set(c.param_name!, credentials[c.credential_field!] ?? "");
      break;
    case "basic_auth": {
      const pair = `${credentials[c.username_field ?? "username"] ?? ""}:${credentials[c.password_field ?? "password"] ?? ""}`;
      headers.set("authorization", `Basic ${btoa(String.fromCharCode(...new TextEncoder().encode(pair)))}`);
      break;
    }
    default:
      return "skipped";
  }
  let status: number;
  try {
    const response = await fetchWithTimeout(deps.fetch, url, { headers }, { timeoutMs: deps.settings.providerTimeoutMs, signal });
    status = response.status;
    await response.body?.cancel();
  } catch (error) {
    // A refusal by the outbound policy (at connect time, for a DNS answer) is not an outage: retrying will not help.
    if (error instanceof NexusError) throw error;
    throw new NexusError("provider_unavailable", "could not reach the provider to check the credential; try again");
  }
  if (status === 401 || status === 403) throw new NexusError("credential_invalid", "the provider rejected this credential");
  if (status >= 500) throw new NexusError("provider_unavailable", `the provider answered ${status} while checking the credential; try again`);
  return "checked";
}

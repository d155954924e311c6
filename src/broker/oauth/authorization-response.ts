/**
 * The issuer check of an authorization response (RFC 9207, security.md
 * S-10), on oauth4webapi's validateAuthResponse. State is not its concern
 * here: Nexus's state is a signed, single-use handshake reference that the
 * callback checks before anything else (handshake-state.ts).
 */
import * as oauth from "oauth4webapi";

/** What the handshake recorded about the provider's issuer. */
export interface IssuerExpectation {
  /** The discovered issuer; empty when the provider has none, and then `iss` cannot be checked. */
  readonly issuer: string;
  /** The provider says it always sends `iss` (`authorization_response_iss_parameter_supported`). */
  readonly issRequired: boolean;
}

/**
 * Why the response's `iss` (empty when absent) is refused, or `undefined`
 * when it is acceptable: `iss_mismatch` when it names another issuer,
 * `iss_missing` when the provider promised one and sent none.
 */
export function issuerRefusal(expect: IssuerExpectation, iss: string): "iss_missing" | "iss_mismatch" | undefined {
  if (expect.issuer === "") return undefined;
  const as: oauth.AuthorizationServer = { issuer: expect.issuer, authorization_response_iss_parameter_supported: expect.issRequired };
  try {
    // validateAuthResponse reads no client metadata beyond the presence of an id.
    oauth.validateAuthResponse(as, { client_id: "nexus" }, new URLSearchParams(iss === "" ? {} : { iss }), oauth.skipStateCheck);
    return undefined;
  } catch {
    return iss === "" ? "iss_missing" : "iss_mismatch";
  }
}

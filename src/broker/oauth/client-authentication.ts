/**
 * Client authentication at the token and revocation endpoints with a client
 * secret (RFC 6749 2.3.1).
 */

/** How the client proves itself; Nexus supports the two secret-based methods. */
export type ClientAuthMethod = "client_secret_basic" | "client_secret_post";

/** A confidential client at one provider. */
export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
  authMethod: ClientAuthMethod;
}

/**
 * Adds the client's credentials to a request: an `Authorization: Basic`
 * header for client_secret_basic (and nothing in the body, since sending both
 * is an error at strict servers), or `client_id` and `client_secret` form
 * fields for client_secret_post.
 */
export function applyClientAuthentication(client: ClientCredentials, headers: Headers, body: URLSearchParams): void {
  if (client.authMethod === "client_secret_post") {
    body.set("client_id", client.clientId);
    body.set("client_secret", client.clientSecret);
    return;
  }
  headers.set("authorization", basicAuthorization(client.clientId, client.clientSecret));
}

/**
 * `Basic base64(urlencode(id) ":" urlencode(secret))`. RFC 6749 2.3.1 requires
 * the form-urlencoding first, so a secret holding `:` or `%` survives; the
 * upstream broker skipped it.
 */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  // After form-urlencoding the string is ASCII, so btoa is safe.
  return `Basic ${btoa(`${formUrlEncode(clientId)}:${formUrlEncode(clientSecret)}`)}`;
}

/** application/x-www-form-urlencoded encoding of one value (space as `+`). */
export function formUrlEncode(value: string): string {
  return new URLSearchParams([["", value]]).toString().slice(1);
}

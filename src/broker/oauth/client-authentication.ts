/**
 * Client authentication at the token and revocation endpoints with a client
 * secret (RFC 6749 2.3.1), as oauth4webapi's ClientAuth.
 */
import * as oauth from "oauth4webapi";

/** How the client proves itself; Nexus supports the two secret-based methods. */
export type ClientAuthMethod = "client_secret_basic" | "client_secret_post";

/** A confidential client at one provider. */
export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
  authMethod: ClientAuthMethod;
}

/**
 * oauth4webapi's ClientSecretBasic (the form-urlencoded id and secret in an
 * `Authorization: Basic` header, nothing in the body: sending both is an
 * error at strict servers) or ClientSecretPost (`client_id` and
 * `client_secret` form fields). A client without a secret sends only its
 * `client_id`, as a public client does.
 */
export function clientAuthentication(client: ClientCredentials): oauth.ClientAuth {
  if (client.clientSecret === "") return oauth.None();
  return client.authMethod === "client_secret_post" ? oauth.ClientSecretPost(client.clientSecret) : oauth.ClientSecretBasic(client.clientSecret);
}

/** oauth4webapi's client metadata for `clientId`. */
export function clientMetadata(clientId: string): oauth.Client {
  return { client_id: clientId };
}

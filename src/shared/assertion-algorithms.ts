/**
 * Signature algorithms an agent's assertion may use: asymmetric only, so no
 * shared secret ever exists (and `none` or an HMAC keyed with a public key
 * can never pass). One list for the Broker's check, the Gateway's metadata
 * and the clients.
 */
export const assertionAlgorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"] as const;

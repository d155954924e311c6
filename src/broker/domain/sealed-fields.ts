/**
 * Where each sealed value lives. A ciphertext is bound to its table, row and
 * field, so these must match between the writer and every reader.
 */
export const sealedFields = {
  providerClientSecret: { table: "providers", field: "client_secret" },
  credentialSecret: { table: "credentials", field: "secret" },
  credentialRefreshToken: { table: "credentials", field: "refresh_token" },
  handshakeVerifier: { table: "handshakes", field: "code_verifier" },
  sessionSigningKey: { table: "session_signing_keys", field: "private_jwk" },
} as const;

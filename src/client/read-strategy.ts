import type { Credential } from "./credential.ts";
import { NexusClientError } from "./nexus-client-error.ts";

/** Typed, checked access to a credential's strategy settings and secret fields. */
export interface StrategyReader {
  /** The strategy type, for example `oauth2`. */
  readonly type: string;
  /** A config value, or `fallback` when absent. Present values must be strings. */
  config(name: string, fallback: string): string;
  /** A config value the strategy cannot work without; absent or empty is an error naming it. */
  requiredConfig(name: string): string;
  /** A secret field of `credentials`; absent or empty is an error naming it (never showing its value). */
  field(name: string): string;
}

/**
 * Reads a credential's strategy with the checks every strategy needs. Any
 * problem is a NexusClientError with reason `credential_invalid`: a request
 * must fail rather than leave unsigned or half-signed.
 */
export function readStrategy(credential: Credential): StrategyReader {
  const strategy = (credential as Partial<Credential> | undefined)?.strategy;
  const type = typeof strategy?.type === "string" ? strategy.type : "";
  const config: Readonly<Record<string, unknown>> = strategy?.config ?? {};
  const fields: Readonly<Record<string, unknown>> = credential?.credentials ?? {};
  const configValue = (name: string): string | undefined => {
    const value = Object.hasOwn(config, name) ? config[name] : undefined;
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") throw credentialInvalid(`config "${name}" of the ${type} strategy must be a string, got ${typeof value}`);
    return value;
  };
  return {
    type,
    config(name, fallback) {
      const value = configValue(name);
      return value === undefined || value === "" ? fallback : value;
    },
    requiredConfig(name) {
      const value = configValue(name);
      if (value === undefined || value === "") throw credentialInvalid(`config "${name}" is required for the ${type} strategy`);
      return value;
    },
    field(name) {
      if (!Object.hasOwn(fields, name)) throw credentialInvalid(`credential field "${name}" is missing (${type} strategy)`);
      const value = fields[name];
      if (typeof value !== "string") throw credentialInvalid(`credential field "${name}" is not a string (${type} strategy)`);
      if (value === "") throw credentialInvalid(`credential field "${name}" is empty (${type} strategy)`);
      return value;
    },
  };
}

/** The error of a malformed credential payload. */
export function credentialInvalid(message: string): NexusClientError {
  return new NexusClientError(`credential_invalid: ${message}`, { code: "invalid_argument", reason: "credential_invalid" });
}

/** The error of a strategy this client cannot apply where it was asked to. */
export function unsupportedStrategy(message: string): NexusClientError {
  return new NexusClientError(`unsupported_strategy: ${message}`, { code: "unimplemented", reason: "unsupported_strategy" });
}

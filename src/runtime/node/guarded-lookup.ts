import { lookup as dnsLookup } from "node:dns/promises";
import type { LookupFunction } from "node:net";
import { classifyIpAddress } from "../../broker/domain/ip-address.ts";
import { addressRefusal, type OutboundPolicy, OutboundRefusedError } from "../../broker/domain/outbound-url-policy.ts";

/** One address of a DNS answer. */
export interface ResolvedAddress {
  readonly address: string;
  /** 4 or 6. */
  readonly family: number;
}

/** Resolves a host name to every address it has; tests inject a fake so no real DNS is asked. */
export type Resolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/** The operating system's resolver (getaddrinfo), in the order it answers. */
export const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** The refusal of a connection to `host` at `address`, which the OAuth engine tells from a network failure. */
export function connectRefusal(host: string, address: string, reason: string): OutboundRefusedError {
  const where = host === address ? address : `${host} (resolves to ${address})`;
  return new OutboundRefusedError(`outbound connection to ${where} refused: it is ${reason}`);
}

/**
 * A `net` lookup that resolves with `resolve` and refuses the whole name when
 * any of its addresses is one the outbound policy refuses (security.md S-28):
 * the check runs on the very addresses the socket then connects to, so a
 * name that changes its answer between registration and use (DNS rebinding)
 * is caught too. Refusing on any bad address, rather than filtering, keeps a
 * name that mixes public and private answers from being half-trusted.
 */
export function createGuardedLookup(policy: OutboundPolicy, resolve: Resolver = systemResolver): LookupFunction {
  return (hostname, options, callback) => {
    const answer = async (): Promise<ResolvedAddress[]> => {
      const addresses = [...(await resolve(hostname))];
      if (addresses.length === 0) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND", hostname });
      for (const { address } of addresses) {
        const kind = classifyIpAddress(address);
        const refused = kind === undefined ? "not an IP address" : addressRefusal(kind, policy);
        if (refused !== undefined) throw connectRefusal(hostname, address, refused);
      }
      const family = options.family === "IPv4" ? 4 : options.family === "IPv6" ? 6 : options.family;
      const wanted = family === 4 || family === 6 ? addresses.filter((a) => a.family === family) : addresses;
      if (wanted.length === 0) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND", hostname });
      return wanted;
    };
    answer().then(
      (addresses) => {
        if (options.all === true) callback(null, addresses.map((a) => ({ ...a })));
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (error: Error) => callback(error, "", 0),
    );
  };
}

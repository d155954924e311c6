import type { ConfigReader } from "./config-reader.ts";

const ipv4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const ipv6 = /^[0-9a-f]*:[0-9a-f:.]*$/i;

/**
 * Reads the address a service listens on (BROKER_HOST, GATEWAY_HOST): an IPv4
 * or IPv6 address, or `localhost`; every IPv4 interface by default. Behind a
 * reverse proxy on the same host, 127.0.0.1 keeps the plaintext port off the
 * network. Host names other than localhost are refused rather than resolved,
 * so the address a service binds is the one its configuration names.
 */
export function readListenHost(r: ConfigReader, name: string): string {
  const host = r.string(name, { default: "0.0.0.0" }) ?? "0.0.0.0";
  if (host === "localhost" || ipv4.test(host) || ipv6.test(host)) return host;
  r.problem(`${name} must be an IP address to listen on, such as 127.0.0.1 (this host only) or 0.0.0.0 (every interface); got "${host}".`);
  return "0.0.0.0";
}

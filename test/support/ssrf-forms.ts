/**
 * The SSRF host spellings the outbound-URL policy must refuse, each with the
 * class it must be read as and the reason the refusal must give. Shared by
 * the unit tests of the policy and the forms x fields test through the
 * Broker's admin API. All are https, so a refusal is about the address alone.
 */
import type { AddressClass } from "../../src/broker/domain/ip-address.ts";

/** One spelling. */
export interface SsrfForm {
  readonly url: string;
  readonly kind: Exclude<AddressClass, "public">;
  readonly reason: RegExp;
}

const reasons: Record<SsrfForm["kind"], RegExp> = {
  loopback: /points at a loopback address/,
  embedded_loopback: /points at a loopback address in an IPv6 form/,
  private: /points at a private network address/,
  link_local: /points at a link-local address/,
  shared: /points at a carrier-grade NAT address/,
  unspecified: /points at an unspecified address/,
  multicast: /points at a multicast address/,
  broadcast: /points at a broadcast address/,
  metadata: /points at a cloud metadata service/,
  reserved: /points at a reserved, non-routable address/,
};

const table: Array<[string, SsrfForm["kind"]]> = [
  // Loopback: the only class the development flag allows.
  ["https://127.0.0.1/x", "loopback"],
  ["https://127.1/x", "loopback"],
  ["https://2130706433/x", "loopback"],
  ["https://0x7f.1/x", "loopback"],
  ["https://0177.0.0.1/x", "loopback"],
  ["https://0x7f000001/x", "loopback"],
  ["https://%31%32%37.0.0.1/x", "loopback"],
  ["https://127.0.0.1./x", "loopback"],
  ["https://127.255.255.254/x", "loopback"],
  ["https://localhost/x", "loopback"],
  ["https://LOCALHOST./x", "loopback"],
  ["https://api.localhost/x", "loopback"],
  ["https://\u24dbocalhost/x", "loopback"], // circled l: IDNA maps it to "localhost"
  ["https://127\u30020\u30020\u30021/x", "loopback"], // ideographic full stops
  ["https://[::1]/x", "loopback"],
  ["https://[0:0:0:0:0:0:0:1]/x", "loopback"],
  // Loopback in IPv6 clothing: never allowed.
  ["https://[::ffff:127.0.0.1]/x", "embedded_loopback"],
  ["https://[::ffff:7f00:1]/x", "embedded_loopback"],
  ["https://[::127.0.0.1]/x", "embedded_loopback"],
  ["https://[64:ff9b::127.0.0.1]/x", "embedded_loopback"],
  ["https://[::ffff:0:127.0.0.1]/x", "embedded_loopback"],
  ["https://[2002:7f00:1::]/x", "embedded_loopback"],
  ["https://[2001:0:102:304::80ff:fffe]/x", "embedded_loopback"], // Teredo, client 127.0.0.1 inverted
  // Private networks (RFC 1918, fc00::/7 and their disguises).
  ["https://10.0.0.1/x", "private"],
  ["https://0xa.1/x", "private"],
  ["https://172.16.0.1/x", "private"],
  ["https://172.31.255.255/x", "private"],
  ["https://192.168.0.1/x", "private"],
  ["https://[fc00::1]/x", "private"],
  ["https://[fd12:3456::1]/x", "private"],
  ["https://[fec0::1]/x", "private"],
  ["https://[::ffff:10.0.0.1]/x", "private"],
  ["https://[::ffff:c0a8:1]/x", "private"],
  ["https://[64:ff9b::10.0.0.1]/x", "private"],
  ["https://[64:ff9b:1::a00:1]/x", "private"],
  ["https://[2002:a00:1::]/x", "private"],
  ["https://idp.internal/x", "private"],
  ["https://router.home.arpa/x", "private"],
  // Link-local.
  ["https://169.254.1.1/x", "link_local"],
  ["https://[fe80::1]/x", "link_local"],
  ["https://printer.local/x", "link_local"],
  // Cloud metadata services, in every spelling.
  ["https://169.254.169.254/latest/meta-data/", "metadata"],
  ["https://2852039166/x", "metadata"],
  ["https://0xa9fea9fe/x", "metadata"],
  ["https://0251.0376.0251.0376/x", "metadata"],
  ["https://169.254.43518/x", "metadata"],
  ["https://[::ffff:169.254.169.254]/x", "metadata"],
  ["https://[::ffff:a9fe:a9fe]/x", "metadata"],
  ["https://[64:ff9b::169.254.169.254]/x", "metadata"],
  ["https://[fd00:ec2::254]/x", "metadata"],
  ["https://169.254.170.2/v2/credentials", "metadata"],
  ["https://100.100.100.200/x", "metadata"],
  ["https://168.63.129.16/x", "metadata"],
  ["https://metadata.google.internal/x", "metadata"],
  ["https://metadata.google.internal./x", "metadata"],
  ["https://METADATA.GOOGLE.INTERNAL/x", "metadata"],
  ["https://metadata.goog/x", "metadata"],
  // Carrier-grade NAT, unspecified, multicast, broadcast, reserved.
  ["https://100.64.0.1/x", "shared"],
  ["https://100.127.255.254/x", "shared"],
  ["https://0.0.0.0/x", "unspecified"],
  ["https://0/x", "unspecified"],
  ["https://0.1.2.3/x", "unspecified"],
  ["https://[::]/x", "unspecified"],
  ["https://224.0.0.1/x", "multicast"],
  ["https://239.255.255.250/x", "multicast"],
  ["https://[ff02::1]/x", "multicast"],
  ["https://255.255.255.255/x", "broadcast"],
  ["https://240.0.0.1/x", "reserved"],
  ["https://198.18.0.1/x", "reserved"],
  ["https://[::8.8.8.8]/x", "reserved"],
  ["https://[2001:db8::1]/x", "reserved"],
  ["https://[100::1]/x", "reserved"],
];

/** Every spelling, with its class and expected reason. */
export const ssrfForms: readonly SsrfForm[] = table.map(([url, kind]) => ({ url, kind, reason: reasons[kind] }));

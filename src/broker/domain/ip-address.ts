/**
 * What kind of network an IP address reaches, for the outbound-URL policy
 * (outbound-url-policy.ts). Pure: the same rules judge the host of a provider
 * URL and every address a DNS answer gives at connect time.
 */

/**
 * Where an address leads; only `public` is reachable without the development
 * flag. `embedded_loopback` is 127.0.0.0/8 inside an IPv6 form (mapped,
 * NAT64, 6to4, ...): the flag allows loopback as 127.0.0.0/8, ::1 and
 * localhost only, never a disguise of it.
 */
export type AddressClass =
  | "public"
  | "loopback"
  | "embedded_loopback"
  | "private"
  | "link_local"
  | "shared"
  | "unspecified"
  | "multicast"
  | "broadcast"
  | "metadata"
  | "reserved";

/**
 * Classifies an IP literal: dotted-decimal IPv4, or IPv6 with or without
 * brackets (a dotted IPv4 tail is accepted, as DNS answers print
 * `::ffff:127.0.0.1`). Returns `undefined` when `text` is not an IP literal,
 * such as a host name. Embedded IPv4 forms (mapped, compatible, SIIT,
 * NAT64, 6to4, Teredo) are judged by the IPv4 address they carry.
 */
export function classifyIpAddress(text: string): AddressClass | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return classifyIpv4(v4);
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const v6 = parseIpv6(bare);
  return v6 === undefined ? undefined : classifyIpv6(v6);
}

// Instance metadata services: AWS/GCP/Azure/OCI, AWS ECS and EKS credentials, Alibaba, Oracle Classic, Azure WireServer.
const metadataIpv4 = new Set(["169.254.169.254", "169.254.170.2", "169.254.170.23", "100.100.100.200", "192.0.0.192", "168.63.129.16"]);

function classifyIpv4(bytes: readonly number[]): AddressClass {
  const [a = 0, b = 0, c = 0, d = 0] = bytes;
  if (metadataIpv4.has(`${a}.${b}.${c}.${d}`)) return "metadata";
  if (a === 0) return "unspecified"; // 0.0.0.0/8 reaches the local host on Linux
  if (a === 127) return "loopback";
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return "private";
  if (a === 169 && b === 254) return "link_local";
  if (a === 100 && b >= 64 && b <= 127) return "shared"; // RFC 6598 carrier-grade NAT
  if (a === 255 && b === 255 && c === 255 && d === 255) return "broadcast";
  if (a >= 224 && a <= 239) return "multicast";
  if (a >= 240) return "reserved";
  // IETF protocol assignments, benchmarking, documentation (RFC 6890: not globally reachable).
  if ((a === 192 && b === 0 && (c === 0 || c === 2)) || (a === 198 && (b === 18 || b === 19)) || (a === 198 && b === 51 && c === 100) || (a === 203 && b === 0 && c === 113)) {
    return "reserved";
  }
  return "public";
}

function classifyIpv6(h: readonly number[]): AddressClass {
  const zeros = (from: number, to: number) => h.slice(from, to).every((x) => x === 0);
  const v4At = (i: number) => [h[i]! >> 8, h[i]! & 0xff, h[i + 1]! >> 8, h[i + 1]! & 0xff];
  if (zeros(0, 8)) return "unspecified";
  if (zeros(0, 7) && h[7] === 1) return "loopback";
  if (h[0] === 0xfd00 && h[1] === 0x0ec2 && zeros(2, 7) && h[7] === 0x254) return "metadata"; // AWS IMDS over IPv6
  if (zeros(0, 5) && h[5] === 0xffff) return embedded(v4At(6)); // ::ffff:a.b.c.d, IPv4-mapped
  if (zeros(0, 4) && h[4] === 0xffff && h[5] === 0) return embedded(v4At(6)); // ::ffff:0:a.b.c.d, SIIT
  if (zeros(0, 6)) return publicAsReserved(embedded(v4At(6))); // ::a.b.c.d, deprecated IPv4-compatible
  if (h[0] === 0x64 && h[1] === 0xff9b && zeros(2, 6)) return embedded(v4At(6)); // 64:ff9b::/96 NAT64
  if (h[0] === 0x64 && h[1] === 0xff9b && h[2] === 1) return "private"; // 64:ff9b:1::/48, local-use NAT64 (RFC 8215)
  if (h[0] === 0x2002) return embedded(v4At(1)); // 6to4 carries its IPv4 in bits 16..47
  if (h[0] === 0x2001 && h[1] === 0) {
    // Teredo: the server's IPv4 in bits 32..63, the client's inverted in the last 32 bits.
    const server = embedded(v4At(2));
    return server !== "public" ? server : embedded(v4At(6).map((x) => x ^ 0xff));
  }
  if ((h[0]! & 0xfe00) === 0xfc00 || (h[0]! & 0xffc0) === 0xfec0) return "private"; // fc00::/7 ULA, fec0::/10 site-local
  if ((h[0]! & 0xffc0) === 0xfe80) return "link_local";
  if ((h[0]! & 0xff00) === 0xff00) return "multicast";
  // ::/8 (IETF reserved), 100::/64 discard-only, 2001:db8::/32 and 3fff::/20 documentation.
  if (h[0]! < 0x100 || (h[0] === 0x100 && zeros(1, 4)) || (h[0] === 0x2001 && h[1] === 0xdb8) || (h[0]! & 0xfff0) === 0x3ff0) {
    return "reserved";
  }
  return "public";
}

function embedded(bytes: readonly number[]): AddressClass {
  const c = classifyIpv4(bytes);
  return c === "loopback" ? "embedded_loopback" : c;
}

function publicAsReserved(c: AddressClass): AddressClass {
  return c === "public" ? "reserved" : c;
}

/** Strict dotted decimal, as the WHATWG parser and DNS answers print IPv4. */
function parseIpv4(text: string): number[] | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (match === null) return undefined;
  const bytes = match.slice(1).map(Number);
  return bytes.every((b) => b <= 255) ? bytes : undefined;
}

function parseIpv6(text: string): number[] | undefined {
  if (!/^[0-9a-f:.]+$/i.test(text) || !text.includes(":")) return undefined;
  let body = text;
  const tail: number[] = [];
  const dotted = /^(.*:)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(text);
  if (dotted !== null) {
    const v4 = parseIpv4(dotted[2]!);
    if (v4 === undefined) return undefined;
    body = dotted[1]!.endsWith("::") ? dotted[1]! : dotted[1]!.slice(0, -1);
    tail.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] | undefined => {
    if (part === "") return [];
    const groups = part.split(":");
    return groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g)) ? groups.map((g) => Number.parseInt(g, 16)) : undefined;
  };
  const left = parse(halves[0]!);
  const right = halves.length === 2 ? parse(halves[1]!) : [];
  if (left === undefined || right === undefined) return undefined;
  const given = left.length + right.length + tail.length;
  if (halves.length === 1) return given === 8 ? [...left, ...tail] : undefined;
  return given < 8 ? [...left, ...new Array<number>(8 - given).fill(0), ...right, ...tail] : undefined;
}

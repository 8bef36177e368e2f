// Who a request comes from: the peer's address, or the one a trusted proxy appended to X-Forwarded-For; the key fair shares are counted by.
import type { IncomingMessage } from "node:http";
import { BlockList, isIP } from "node:net";

/** Thrown for a TRUSTED_PROXIES entry that is not an address or an address/prefix. */
export class TrustedProxiesError extends Error {
  override name = "TrustedProxiesError";
}

/**
 * "::ffff:10.0.0.1" (an IPv4 peer on a dual-stack socket) is 10.0.0.1; some proxies write an address with its
 * port ("198.51.100.1:4711", "[2001:db8::1]:4711"): the address is what counts.
 */
function plainAddress(address: string): string {
  const withPort = /^\[([^\]]+)\](?::\d+)?$/.exec(address) ?? /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(address);
  const bare = withPort ? withPort[1]! : address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  return mapped ? mapped[1]! : bare;
}

/** Parses comma-separated CIDRs ("10.0.0.0/16, fd00::/8"; a bare address is one host) into a BlockList. */
export function parseTrustedProxies(raw: string): BlockList {
  const list = new BlockList();
  for (const entry of raw.split(",").map((item) => item.trim())) {
    if (entry === "") throw new TrustedProxiesError(`has an empty entry in "${raw}" (expected comma-separated CIDRs such as 10.0.0.0/16)`);
    const [address = "", prefix, extra] = entry.split("/");
    const family = isIP(address);
    if (family === 0 || extra !== undefined) throw new TrustedProxiesError(`has "${entry}", which is not an IP address or CIDR (e.g. 10.0.0.0/16 or fd00::/8)`);
    const type = family === 4 ? "ipv4" : "ipv6";
    const bits = family === 4 ? 32 : 128;
    if (prefix === undefined) {
      list.addAddress(address, type);
      continue;
    }
    if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > bits) throw new TrustedProxiesError(`has "${entry}": the prefix length must be 0 to ${bits}`);
    list.addSubnet(address, Number(prefix), type);
  }
  return list;
}

function isTrusted(list: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 4 ? "ipv4" : "ipv6");
}

/**
 * The client's address. Without trusted proxies, the peer's. When the peer is a trusted proxy, X-Forwarded-For
 * is read from the right (each proxy appends the address it received the request from): the first address that
 * is not a trusted proxy is the client; entries left of it are whatever the client chose to send and are ignored.
 * A malformed entry ends the walk at the trusted hop that passed it on.
 */
export function clientAddress(req: IncomingMessage, trusted: BlockList | null): string {
  let client = plainAddress(req.socket.remoteAddress ?? "unknown");
  if (!trusted || !isTrusted(trusted, client)) return client;
  const header = req.headers["x-forwarded-for"];
  const chain = (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",").map((item) => plainAddress(item.trim()));
  for (let index = chain.length - 1; index >= 0; index--) {
    const hop = chain[index]!;
    if (isIP(hop) === 0) return client;
    client = hop;
    if (!isTrusted(trusted, hop)) return client;
  }
  return client;
}

/** The 64-bit network of an IPv6 address (one subscriber's allocation); IPv4 addresses as they are. */
function ipv6Network(address: string): string {
  let text = address.toLowerCase().split("%")[0]!;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  return `${groups.slice(0, 4).map((group) => Number.parseInt(group, 16).toString(16)).join(":")}::/64`;
}

/**
 * The key a client's fair share is counted under: its IPv4 address, or its IPv6 /64 (a single subscriber
 * commonly holds a whole /64, so counting single IPv6 addresses would let one client appear as many).
 */
export function clientKey(address: string): string {
  return isIP(address) === 6 ? ipv6Network(address) : address;
}

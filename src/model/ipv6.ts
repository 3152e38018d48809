/** IPv6 addresses as unsigned 128-bit BigInts, and CIDR blocks. Pure. */

export interface Cidr6 {
  /** Network address (host bits zero). */
  network: bigint;
  prefix: number;
}

const ALL = (1n << 128n) - 1n;

/** The address of `text` (any RFC 4291 form, IPv4-embedded too; no zone), or undefined. */
export function parseIp6(text: string): bigint | undefined {
  if (!isIp6Text(text)) return undefined;
  let groups = text;
  // The last 32 bits may be written as a dotted IPv4 address (::ffff:1.2.3.4).
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(groups);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    groups = groups.slice(0, dotted.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = groups.split('::') as [string, string | undefined];
  const words = (s: string) => (s === '' ? [] : s.split(':'));
  const left = words(head);
  const right = tail === undefined ? [] : words(tail);
  const all = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return all.reduce((n, w) => (n << 16n) | BigInt(parseInt(w, 16)), 0n);
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
const OCTET = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)$/;

/**
 * Whether `text` is an IPv6 address in an RFC 4291 form (an IPv4 tail too; no zone): what node's
 * isIPv6 says of it, without its large regular expression, whose compiling cost every run a few ms.
 */
export function isIp6Text(text: string): boolean {
  const halves = text.split('::');
  if (halves.length > 2) return false;
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  // Only the text's last group may be a dotted IPv4 address (two groups' worth).
  const last = halves.length === 2 ? tail : head;
  let count = head.length + tail.length;
  if (last.length > 0 && last[last.length - 1]!.includes('.')) {
    const octets = last.pop()!.split('.');
    if (octets.length !== 4 || !octets.every((o) => OCTET.test(o))) return false;
    count += 1;
  }
  if (![...head, ...tail].every((g) => HEX_GROUP.test(g))) return false;
  return halves.length === 2 ? count <= 7 : count === 8;
}

/** RFC 5952 text: lower case, no leading zeros, the longest run of two or more zero groups as `::`. */
export function formatIp6(n: bigint): string {
  return formatIp6Groups(Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn)));
}

/** formatIp6 of the eight 16-bit groups, first first (a netlink dump's 16 bytes need no BigInt). */
export function formatIp6Groups(groups: number[]): string {
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(':');
  if (best.at < 0) return hex(groups);
  return `${hex(groups.slice(0, best.at))}::${hex(groups.slice(best.at + best.len))}`;
}

export function mask6(prefix: number): bigint {
  return prefix === 0 ? 0n : (ALL << BigInt(128 - prefix)) & ALL;
}

/** Parses `addr/len`; with `strict`, host bits must be zero. */
export function parseCidr6(text: string, strict = true): Cidr6 | undefined {
  const [addr, len, extra] = text.split('/');
  if (extra !== undefined || addr === undefined || len === undefined || !/^\d{1,3}$/.test(len)) return undefined;
  const ip = parseIp6(addr);
  const prefix = Number(len);
  if (ip === undefined || prefix > 128) return undefined;
  const network = ip & mask6(prefix);
  if (strict && network !== ip) return undefined;
  return { network, prefix };
}

export function formatCidr6(c: Cidr6): string {
  return `${formatIp6(c.network)}/${c.prefix}`;
}

export function contains6(c: Cidr6, ip: bigint): boolean {
  return (ip & mask6(c.prefix)) === c.network;
}

export function overlaps6(a: Cidr6, b: Cidr6): boolean {
  const m = mask6(Math.min(a.prefix, b.prefix));
  return (a.network & m) === (b.network & m);
}

/** The last address of the block (IPv6 has no broadcast, but Docker's IPAM never hands it out either). */
export function lastIp6(c: Cidr6): bigint {
  return c.network | (~mask6(c.prefix) & ALL);
}

/** Splits `pool` into blocks of `/prefix`, in address order. */
export function* subnets6(pool: Cidr6, prefix: number): Generator<Cidr6> {
  const step = 1n << BigInt(128 - prefix);
  for (let n = pool.network; n <= lastIp6(pool); n += step) yield { network: n, prefix };
}

/** Unique local addresses (RFC 4193): where an automatic subnet comes from. */
export const ULA: Cidr6 = parseCidr6('fc00::/7')!;

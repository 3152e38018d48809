/**
 * Reads the lines `nft -a monitor trace` prints into events. Pure: the monitor's text in,
 * data out. One line is one step of one packet through one chain:
 *   trace id 92f893ff ip filter FORWARD packet: iif "br0" oif "br0" ip saddr ... tcp dport 80 ...
 *   trace id 92f893ff ip filter NL-x-FWD rule iifname "br0" ... drop # handle 1239 (verdict drop)
 *   trace id 92f893ff ip filter FORWARD policy accept
 */

/** The header fields of a packet as the trace shows it. */
export interface TracedPacket {
  iif?: string;
  oif?: string;
  saddr?: string;
  daddr?: string;
  /** The IP header's id: the same packet keeps it from hop to hop, NAT or not. */
  ipId?: number;
  proto?: 'tcp' | 'udp' | 'icmp';
  sport?: number;
  dport?: number;
  /** TCP flags as nft prints them (`syn`, `0x12`, `rst | ack`), ICMP type name. */
  tcpFlags?: string;
  icmpType?: string;
  icmpCode?: string;
  icmpId?: number;
  /** The VNI, when the UDP payload starts like a VXLAN header (flags 0x08): an overlay's encapsulated packet. */
  vni?: number;
}

export type TraceLine =
  | { kind: 'packet'; id: string; family: string; table: string; chain: string; packet: TracedPacket }
  | { kind: 'rule'; id: string; family: string; table: string; chain: string; text: string; handle?: number; verdict: string }
  | { kind: 'policy'; id: string; family: string; table: string; chain: string; verdict: string }
  | { kind: 'return'; id: string; family: string; table: string; chain: string };

const HEAD = /^trace id (\S+) (\S+) (\S+) (\S+) (.*)$/;

/** One line of `nft -a monitor trace`, or undefined for anything else. */
export function parseTraceLine(line: string): TraceLine | undefined {
  const m = HEAD.exec(line.trim());
  if (!m) return undefined;
  const [, id, family, table, chain, rest] = m as unknown as [string, string, string, string, string, string];
  const base = { id, family, table, chain };
  if (rest.startsWith('packet: ')) return { kind: 'packet', ...base, packet: parsePacket(rest.slice(8)) };
  if (rest.startsWith('policy ')) return { kind: 'policy', ...base, verdict: rest.slice(7).trim() };
  if (rest.startsWith('rule ')) return parseRule(base, rest.slice(5));
  if (/^(verdict )?return/.test(rest)) return { kind: 'return', ...base };
  return undefined;
}

function parseRule(base: { id: string; family: string; table: string; chain: string }, rest: string): TraceLine {
  const verdictAt = rest.lastIndexOf(' (verdict ');
  const verdict = verdictAt >= 0 ? rest.slice(verdictAt + 10).replace(/\)\s*$/, '') : 'continue';
  let text = (verdictAt >= 0 ? rest.slice(0, verdictAt) : rest).trim();
  const h = / # handle (\d+)$/.exec(text);
  if (h) text = text.slice(0, h.index).trim();
  // iptables-nft rules show their counters; they are not part of the rule's text.
  text = text
    .replace(/\s*counter packets \d+ bytes \d+\s*/, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return { kind: 'rule', ...base, text, handle: h ? Number(h[1]) : undefined, verdict };
}

const unquote = (s: string) => s.replace(/^"|"$/g, '');

/** The packet part: `key value` pairs, keys of one or two words. */
export function parsePacket(text: string): TracedPacket {
  const p: TracedPacket = {};
  const word = (re: RegExp) => re.exec(text)?.[1];
  const num = (re: RegExp) => {
    const v = word(re);
    return v === undefined ? undefined : Number(v);
  };
  p.iif = word(/\biif "([^"]*)"/) ?? word(/\biif (\S+)/);
  p.oif = word(/\boif "([^"]*)"/) ?? word(/\boif (\S+)/);
  p.saddr = word(/\bip saddr (\S+)/);
  p.daddr = word(/\bip daddr (\S+)/);
  p.ipId = num(/\bip id (\d+)/);
  for (const proto of ['tcp', 'udp'] as const) {
    const sport = num(new RegExp(`\\b${proto} sport (\\d+)`));
    if (sport !== undefined) {
      p.proto = proto;
      p.sport = sport;
      p.dport = num(new RegExp(`\\b${proto} dport (\\d+)`));
    }
  }
  const flags = word(/\btcp flags == (.+?) tcp /) ?? word(/\btcp flags == (\S+)/);
  if (flags) p.tcpFlags = flags.trim();
  const icmpType = word(/\bicmp type (\S+)/);
  if (icmpType) {
    p.proto = 'icmp';
    p.icmpType = icmpType;
    p.icmpCode = word(/\bicmp code (\S+)/);
    p.icmpId = num(/\bicmp id (\d+)/);
  }
  const payload = p.proto === 'udp' ? word(/@th,64,96 0x([0-9a-f]+)/) : undefined;
  if (payload) {
    const hex = payload.padStart(24, '0');
    if (hex.startsWith('08')) p.vni = parseInt(hex.slice(8, 14), 16);
  }
  if (p.iif) p.iif = unquote(p.iif);
  if (p.oif) p.oif = unquote(p.oif);
  for (const k of Object.keys(p) as (keyof TracedPacket)[]) if (p[k] === undefined) delete p[k];
  return p;
}

/** TCP flags as a short readable word: SYN, SYN-ACK, RST, ... */
export function flagWords(flags: string | undefined): string {
  if (!flags) return '';
  const hex = /^0x([0-9a-f]+)$/i.exec(flags);
  const bits = hex ? parseInt(hex[1]!, 16) : flags.split(/\s*\|\s*/).reduce((b, f) => b | (FLAG_BITS[f] ?? 0), 0);
  return Object.entries(FLAG_BITS)
    .filter(([, bit]) => bits & bit)
    .map(([name]) => name.toUpperCase())
    .join('-');
}

const FLAG_BITS: Record<string, number> = { syn: 0x02, rst: 0x04, fin: 0x01, psh: 0x08, ack: 0x10 };

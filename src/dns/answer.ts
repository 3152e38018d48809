/**
 * One DNS query in, one response out, for one container's view: the lab's names from the
 * records, every other name from the upstream servers (dns-packet does the wire format).
 */
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { lookup, ofType, type DnsView, type ResolverConfig } from './records.js';

/** Docker's embedded DNS gives its records a TTL of 600 s. */
const TTL = 600;
/** How long all upstream servers together may take before the client gets SERVFAIL. */
export const UPSTREAM_DEADLINE_MS = 2000;

export interface Answerer {
  config: ResolverConfig;
  labNames: Set<string>;
  /** Round robin: how many times each name was answered. */
  turns: Map<string, number>;
}

export function answerer(config: ResolverConfig): Answerer {
  return { config, labNames: new Set(config.labNames), turns: new Map() };
}

/** dns-packet encodes the response code from the low bits of `flags` (RFC 1035 4.1.1). */
const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;
type Rcode = keyof typeof RCODE;

function reply(query: dnsPacket.Packet, rcode: Rcode, answers: dnsPacket.Answer[] = []): Buffer {
  const rd = ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) !== 0;
  return dnsPacket.encode({
    type: 'response',
    id: query.id ?? 0,
    flags: dnsPacket.RECURSION_AVAILABLE | (rd ? dnsPacket.RECURSION_DESIRED : 0) | RCODE[rcode],
    questions: query.questions ?? [],
    answers,
  } as dnsPacket.Packet);
}

/** The response to `msg` (a whole DNS message) asked in `view`; undefined to stay silent (not a query). */
export async function answer(a: Answerer, view: DnsView, msg: Buffer): Promise<Buffer | undefined> {
  let query: dnsPacket.Packet;
  try {
    query = dnsPacket.decode(msg);
  } catch {
    return undefined;
  }
  if (query.type !== 'query') return undefined;
  const q = query.questions?.[0];
  if (!q || query.questions!.length !== 1) return reply(query, 'FORMERR');
  const name = q.name.toLowerCase().replace(/\.$/, '');
  const found = lookup(a.config, view, name, a.labNames);
  if (found.kind === 'upstream') return forward(msg, view.upstreams, query);
  if (found.kind === 'nxdomain') return reply(query, 'NXDOMAIN');
  if (found.kind === 'ptr') return reply(query, 'NOERROR', q.type === 'PTR' ? [{ type: 'PTR', name: q.name, ttl: TTL, data: found.name }] : []);
  // A name of the lab with no record of the asked type: NOERROR and no answer (NODATA).
  const type = q.type === 'A' || q.type === 'AAAA' ? q.type : undefined;
  const of = type ? ofType(found.ips, type) : [];
  if (!type || of.length === 0) return reply(query, 'NOERROR');
  const key = `${name}/${type}`;
  const turn = a.turns.get(key) ?? 0;
  a.turns.set(key, turn + 1);
  const ips = of.map((_, i) => of[(i + turn) % of.length]!);
  return reply(
    query,
    'NOERROR',
    ips.map((ip) => ({ type, name: q.name, ttl: TTL, data: ip }) as dnsPacket.Answer),
  );
}

/** Asks each upstream in turn, from the host's namespace, within UPSTREAM_DEADLINE_MS in all; SERVFAIL when none answers. */
async function forward(msg: Buffer, upstreams: string[], query: dnsPacket.Packet): Promise<Buffer> {
  const deadline = Date.now() + UPSTREAM_DEADLINE_MS;
  for (let i = 0; i < upstreams.length; i++) {
    const share = Math.max(100, (deadline - Date.now()) / (upstreams.length - i));
    const got = await askOne(msg, upstreams[i]!, share);
    if (got) return got;
    if (Date.now() >= deadline) break;
  }
  return reply(query, 'SERVFAIL');
}

function askOne(msg: Buffer, server: string, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    const id = msg.readUInt16BE(0);
    const done = (b: Buffer | undefined) => {
      clearTimeout(timer);
      sock.close();
      resolve(b);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    sock.on('error', () => done(undefined));
    sock.on('message', (b) => {
      if (b.length >= 12 && b.readUInt16BE(0) === id) done(b);
    });
    sock.send(msg, 53, server);
  });
}

/**
 * Address management, pure: choose a subnet that collides with nothing on the host, and give
 * each container the lowest free address (Docker's non-serial default IPAM), keeping the
 * addresses a lab already has so that re-running `up` never renumbers a container.
 */
import { broadcast, contains, overlaps, parseCidr, subnets, type Cidr } from './ipv4.js';

/** /24s from these, in order. Docker starts at 172.17.0.0/16; netlab starts at the far end of 172.16/12. */
export const DEFAULT_POOLS: Cidr[] = ['172.31.0.0/16', '172.30.0.0/16', '10.213.0.0/16'].map((c) => parseCidr(c)!);
export const DEFAULT_PREFIX = 24;

export class PoolExhaustedError extends Error {}

/** First block of the pools that overlaps none of `taken` (host routes, host addresses, other labs). */
export function pickSubnet(taken: Cidr[], pools: Cidr[] = DEFAULT_POOLS, prefix = DEFAULT_PREFIX): Cidr {
  for (const pool of pools) {
    for (const candidate of subnets(pool, prefix)) {
      if (!taken.some((t) => overlaps(t, candidate))) return candidate;
    }
  }
  throw new PoolExhaustedError('could not find an available, non-overlapping IPv4 subnet in the default pools; give the network a "subnet"');
}

export interface AllocationRequest {
  name: string;
  /** Static address from the topology. */
  fixed?: number;
  /** Address it had before, kept when still valid. */
  previous?: number;
}

/** Addresses for every request; statics first, then previous ones, then the lowest free. Gateways are never given out. */
export function allocateAddresses(subnet: Cidr, gateways: number | number[], requests: AllocationRequest[]): Map<string, number> {
  const used = new Set<number>([subnet.network, broadcast(subnet), ...[gateways].flat()]);
  const result = new Map<string, number>();
  for (const r of requests) {
    if (r.fixed !== undefined) {
      used.add(r.fixed);
      result.set(r.name, r.fixed);
    }
  }
  for (const r of requests) {
    if (result.has(r.name) || r.previous === undefined) continue;
    if (contains(subnet, r.previous) && !used.has(r.previous)) {
      used.add(r.previous);
      result.set(r.name, r.previous);
    }
  }
  let next = subnet.network + 1;
  for (const r of requests) {
    if (result.has(r.name)) continue;
    while (used.has(next) && next < broadcast(subnet)) next++;
    if (next >= broadcast(subnet)) throw new PoolExhaustedError(`no free address left in ${subnet.network}/${subnet.prefix} for ${r.name}`);
    used.add(next);
    result.set(r.name, next);
  }
  return result;
}

/** A host port for `publish` entries without one: sequential from the range start, skipping used ones. */
export function pickHostPort(range: { start: number; end: number }, used: Set<number>): number {
  const got = new HostPortPicker([]).pick(range, 'tcp', used);
  if (got === undefined) throw new PoolExhaustedError(`no free host port in ${range.start}-${range.end}`);
  return got;
}

/**
 * Host ports of one lab: those in use, by protocol, and a cursor per range that only moves
 * forward (ports only ever become used), so that picking N ports costs O(N + range), not O(N²).
 */
export class HostPortPicker {
  private readonly used = new Map<string, Set<number>>();
  private readonly cursors = new Map<string, number>();

  /** `used`: `port/proto` keys. */
  constructor(used: Iterable<string>) {
    for (const key of used) {
      const [port, proto] = key.split('/');
      this.take(Number(port), proto!);
    }
  }

  isFree(port: number, proto: string): boolean {
    return !this.usedOf(proto).has(port);
  }

  take(port: number, proto: string): void {
    this.usedOf(proto).add(port);
  }

  /** The first free port of `range` (also free in `alsoUsed`), taken; undefined when none is left. */
  pick(range: { start: number; end: number }, proto: string, alsoUsed?: Set<number>): number | undefined {
    const key = `${proto}:${range.start}-${range.end}`;
    const used = this.usedOf(proto);
    let p = Math.max(range.start, this.cursors.get(key) ?? range.start);
    while (p <= range.end && (used.has(p) || alsoUsed?.has(p))) p++;
    this.cursors.set(key, p);
    if (p > range.end) return undefined;
    used.add(p);
    return p;
  }

  private usedOf(proto: string): Set<number> {
    let set = this.used.get(proto);
    if (!set) this.used.set(proto, (set = new Set()));
    return set;
  }
}

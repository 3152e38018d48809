/**
 * IPv6 address management, pure, as ipam.ts does it for IPv4: an automatic unique local /64
 * that collides with nothing on the host, and the lowest free address for each container.
 */
import { contains6, lastIp6, overlaps6, parseCidr6, subnets6, type Cidr6 } from './ipv6.js';
import { PoolExhaustedError } from './ipam.js';

/** /64s from this ULA /48 ("nlab" in its global ID), in order: clear of fd00::/64 and other common ULA picks. */
export const DEFAULT_POOL6: Cidr6 = parseCidr6('fd6e:6c61:6200::/48')!;

/** First /64 of the pool that overlaps none of `taken` (host routes, host addresses, other labs). */
export function pickSubnet6(taken: Cidr6[], pool: Cidr6 = DEFAULT_POOL6): Cidr6 {
  for (const candidate of subnets6(pool, 64)) {
    if (!taken.some((t) => overlaps6(t, candidate))) return candidate;
  }
  throw new PoolExhaustedError('could not find an available, non-overlapping IPv6 subnet in the default pool; give the network a "subnet6"');
}

export interface AllocationRequest6 {
  name: string;
  fixed?: bigint;
  previous?: bigint;
}

/** Addresses for every request: statics, then previous ones still valid, then the lowest free. Gateways are never given out. */
export function allocateAddresses6(subnet: Cidr6, gateways: bigint[], requests: AllocationRequest6[]): Map<string, bigint> {
  const used = new Set<bigint>([subnet.network, lastIp6(subnet), ...gateways]);
  const result = new Map<string, bigint>();
  for (const r of requests) if (r.fixed !== undefined) used.add(r.fixed) && result.set(r.name, r.fixed);
  for (const r of requests) {
    if (result.has(r.name) || r.previous === undefined || used.has(r.previous) || !contains6(subnet, r.previous)) continue;
    used.add(r.previous);
    result.set(r.name, r.previous);
  }
  let next = subnet.network + 1n;
  for (const r of requests) {
    if (result.has(r.name)) continue;
    while (used.has(next)) next++;
    if (next >= lastIp6(subnet)) throw new PoolExhaustedError(`no free IPv6 address left for ${r.name}`);
    used.add(next);
    result.set(r.name, next);
  }
  return result;
}

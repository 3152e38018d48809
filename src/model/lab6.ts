/** The IPv6 side of resolveLab: each IPv6 network's subnet and gateways, each container's address. Pure. */
import type { Topology } from '../topology/types.js';
import { formatCidr6, formatIp6, overlaps6, parseCidr6, parseIp6, type Cidr6 } from './ipv6.js';
import { allocateAddresses6, pickSubnet6 } from './ipam6.js';
import { placeIn, SubnetTakenError, type Lab, type LabContext, type LabNetwork, type PreviousAllocation } from './lab.js';

export interface TakenSubnet6 {
  cidr: Cidr6;
  /** What holds it: `the route to fd00::/64 dev eth0`, `lab web`. */
  by: string;
}

/**
 * Sets `ipv6` on every network with `enableIpv6`: its given subnet (refused when the host or
 * another lab has it), else the one it had before, else a free ULA /64; gateways as for IPv4.
 */
export function resolveNetworks6(topo: Topology, ctx: LabContext, networks: LabNetwork[], host: string | undefined): void {
  const takenByHost = ctx.takenSubnets6 ?? [];
  const given = networks.flatMap((n) => (n.subnet6 ? [parseCidr6(n.subnet6)!] : []));
  const taken = [...takenByHost.map((t) => t.cidr), ...given];
  const multi = topo.hosts.length > 0;
  for (const n of networks) {
    if (!n.enableIpv6) continue;
    let subnet = n.subnet6 ? parseCidr6(n.subnet6) : undefined;
    if (subnet) {
      const clash = takenByHost.find((t) => overlaps6(t.cidr, subnet!));
      const path = `networks.${n.name}.subnet6`;
      if (clash) throw new SubnetTakenError(path, placeIn(topo, path, `${n.subnet6} overlaps ${clash.by}`));
    }
    const before = ctx.previous?.subnets6?.[n.name];
    const previous = before ? parseCidr6(before) : undefined;
    if (!subnet && previous && !taken.some((t) => overlaps6(t, previous))) subnet = previous;
    subnet ??= pickSubnet6(taken);
    if (!n.subnet6) taken.push(subnet);
    const gateways = multi
      ? Object.fromEntries(topo.hosts.map((h, i) => [h.name, formatIp6(subnet!.network + 1n + BigInt(i))]))
      : { '': n.gateway6 ?? formatIp6(subnet.network + 1n) };
    n.ipv6 = { subnet: formatCidr6(subnet), prefix: subnet.prefix, gateway: gateways[host ?? '']!, gateways };
  }
}

/** Every container's IPv6 address on each IPv6 network, by `container/network`. */
export function allocate6(topo: Topology, ctx: LabContext, networks: LabNetwork[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const net of networks) {
    if (!net.ipv6) continue;
    const members = topo.containers.filter((c) => c.networks.includes(net.name));
    const prev = (name: string) => {
      const text = ctx.previous?.addresses6?.[`${name}/${net.name}`];
      return text ? parseIp6(text) : undefined;
    };
    const got = allocateAddresses6(
      parseCidr6(net.ipv6.subnet)!,
      Object.values(net.ipv6.gateways).map((g) => parseIp6(g)!),
      members.map((c) => {
        const fixed = c.staticIp6s?.[net.name];
        return { name: c.name, fixed: fixed ? parseIp6(fixed) : undefined, previous: prev(c.name) };
      }),
    );
    for (const [name, ip] of got) out.set(`${name}/${net.name}`, formatIp6(ip));
  }
  return out;
}

/** What to remember of the IPv6 side so the next `up` keeps it: subnets by network, addresses by `container/network`. */
export function allocation6(lab: Lab): Pick<PreviousAllocation, 'subnets6' | 'addresses6'> {
  return {
    subnets6: Object.fromEntries(lab.networks.flatMap((n) => (n.ipv6 ? [[n.name, n.ipv6.subnet]] : []))),
    addresses6: Object.fromEntries(lab.containers.flatMap((c) => c.interfaces.flatMap((i) => (i.ip6 ? [[`${c.name}/${i.network}`, i.ip6]] : [])))),
  };
}

/** The IPv6 side of resolveLab: each IPv6 network's subnet and gateways, each container's address. Pure. */
import type { Topology } from '../topology/types.js';
import { formatCidr } from './ipv4.js';
import { formatCidr6, formatIp6, overlaps6, parseCidr6, parseIp6, type Cidr6 } from './ipv6.js';
import { allocateAddresses6, pickSubnet6 } from './ipam6.js';
import type { Lab, LabContext, LabNetwork, PreviousAllocation } from './lab.js';
import { placeIn, SubnetTakenError } from './place.js';

/**
 * The IPv4 subnet of an IPv6-only network (`ipv4: false`): LabNetwork keeps a subnet for the
 * plan's shape, this one, which no bridge or container gets and no pool hands out.
 */
export const NO_IPV4 = { network: 0, prefix: 32 } as const;

/** A network's subnets as text, as `up`, `ls` and `doctor` name them: `10.0.0.0/24, fd31::/64`. */
export function subnetsText(n: LabNetwork): string {
  return [...(n.ipv4 === false ? [] : [formatCidr(n.subnet)]), ...(n.ipv6 ? [n.ipv6.subnet] : [])].join(', ');
}

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
  // As for IPv4: the subnets other networks keep from the last `up` are not picked for a new one.
  const kept = networks.flatMap((n) => (!n.subnet6 && ctx.previous?.subnets6?.[n.name] ? [parseCidr6(ctx.previous.subnets6[n.name]!)!] : []));
  const taken = [...takenByHost.map((t) => t.cidr), ...given, ...kept];
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
    if (!subnet && previous && !given.some((g) => overlaps6(g, previous))) subnet = previous;
    subnet ??= pickSubnet6(taken);
    if (!n.subnet6) taken.push(subnet);
    const gateways = multi ? Object.fromEntries(topo.hosts.map((h, i) => [h.name, formatIp6(subnet!.network + 1n + BigInt(i))])) : { '': n.gateway6 ?? formatIp6(subnet.network + 1n) };
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

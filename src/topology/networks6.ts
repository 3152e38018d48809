/** The IPv6 keys of one network (`ipv6`, `ipv4`, `subnet6`, `gateway6`, `ip6Masquerade`), each checked. */
import { contains6, formatCidr6, formatIp6, lastIp6, overlaps6, parseCidr6, parseIp6, type Cidr6 } from '../model/ipv6.js';
import { quoteValue } from './quote.js';
import type { RawNetwork } from './schema.js';
import type { PathSegment } from './yamlpos.js';
import type { NetworkDef } from './types.js';

type Problem = (path: PathSegment[], message: string) => void;
type NetworkDef6 = Pick<NetworkDef, 'ipv4' | 'enableIpv6' | 'subnet6' | 'gateway6' | 'ip6Masquerade'>;

/** Blocks an IPv6 subnet may not overlap, with the words a message uses for them. */
const SPECIAL6 = [
  ['::/8', 'the reserved range ::/8 (unspecified, loopback, IPv4-mapped)'],
  ['fe80::/10', 'the link-local range fe80::/10, which every interface has on its own'],
  ['ff00::/8', 'the multicast range ff00::/8'],
].map(([c, what]) => ({ cidr: parseCidr6(c!)!, what: what! }));

/** The IPv6 fields of network `n` (at `at(...)`), every problem reported. */
export function checkNetwork6(n: RawNetwork, multiHost: boolean, at: (...p: PathSegment[]) => PathSegment[], problem: Problem): NetworkDef6 {
  if (!n.ipv6) {
    for (const key of ['subnet6', 'gateway6'] as const) if (n[key] !== undefined) problem(at(key), `"${key}" needs "ipv6: true" on the network`);
    if (!n.ipv4) problem(at('ipv4'), 'a network needs an address family: "ipv4: false" needs "ipv6: true"');
    return n.ipv4 ? {} : { ipv4: false };
  }
  if (!n.ipv4) for (const key of ['subnet', 'gateway'] as const) if (n[key] !== undefined) problem(at(key), `the network has "ipv4: false": remove "${key}"`);
  const subnet = n.subnet6 === undefined ? undefined : checkSubnet6(n.subnet6, (m) => problem(at('subnet6'), m));
  if ((n.vxlan || n.driver === 'ovs') && multiHost && n.subnet6 === undefined) problem(at('ipv6'), 'an overlay network with IPv6 needs a "subnet6": every host must compute the same addresses');
  let gateway: bigint | undefined;
  if (n.gateway6 !== undefined) {
    gateway = parseIp6(n.gateway6);
    if (gateway === undefined) problem(at('gateway6'), `${quoteValue(n.gateway6)} is not an IPv6 address`);
    else if (multiHost) problem(at('gateway6'), 'on a multi-host lab each host gets its own gateway (the first addresses of the subnet); remove "gateway6"');
    else if (!subnet) {
      if (n.subnet6 === undefined) problem(at('gateway6'), 'a gateway6 needs the network\'s "subnet6"');
    } else if (!usableIn6(subnet, gateway)) problem(at('gateway6'), `${n.gateway6} is not a usable address of ${formatCidr6(subnet)}`);
  }
  return {
    ...(n.ipv4 ? {} : { ipv4: false }),
    enableIpv6: true,
    ...(subnet ? { subnet6: formatCidr6(subnet) } : {}),
    ...(gateway !== undefined && subnet ? { gateway6: formatIp6(gateway) } : {}),
    ip6Masquerade: n.ip6Masquerade,
  };
}

/** The subnet of `text`, or undefined with the reason given to `fail`. */
function checkSubnet6(text: string, fail: (message: string) => void): Cidr6 | undefined {
  const subnet = parseCidr6(text);
  const special = subnet && SPECIAL6.find((b) => overlaps6(b.cidr, subnet));
  if (!subnet) fail(`${quoteValue(text)} is not an IPv6 subnet in CIDR form with its host bits zero (e.g. fd31:0:0:1::/64)`);
  else if (subnet.prefix > 64 || subnet.prefix < 16) fail(`prefix /${subnet.prefix} must be between /16 and /64 (Docker's IPAM and SLAAC want at least a /64)`);
  else if (special) fail(`${formatCidr6(subnet)} is in ${special.what}: give the network a unique local (fd00::/8) or global subnet`);
  else return subnet;
  return undefined;
}

/** Neither the subnet-router anycast address (the first) nor the last, as Docker's IPAM. */
export function usableIn6(subnet: Cidr6, ip: bigint): boolean {
  return contains6(subnet, ip) && ip !== subnet.network && ip !== lastIp6(subnet);
}

/** Two networks of one lab on overlapping IPv6 subnets would route the same addresses. */
export function overlapping6(networks: NetworkDef[], problem: Problem, place: (path: PathSegment[]) => string): void {
  const given = networks.filter((n) => n.subnet6).map((n) => ({ n, cidr: parseCidr6(n.subnet6!)! }));
  given.forEach((b, j) => {
    const a = given.slice(0, j).find((a) => overlaps6(a.cidr, b.cidr));
    if (a)
      problem(
        ['networks', b.n.name, 'subnet6'],
        `${b.n.subnet6} overlaps ${a.n.subnet6}, the subnet6 of network "${a.n.name}" (${place(['networks', a.n.name, 'subnet6'])}): each network needs its own addresses`,
      );
  });
}

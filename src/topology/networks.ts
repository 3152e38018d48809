/** The `networks:` of a file: bridges, subnets and gateways, each checked alone and against the others. */
import { broadcast, contains, formatCidr, overlaps, parseCidr, parseIp, type Cidr } from '../model/ipv4.js';
import { defaultBridgeName } from '../model/names.js';
import { specialSubnet } from '../model/special.js';
import { checkNetwork6, overlapping6 } from './networks6.js';
import { networkSchema, type RawTopology } from './schema.js';
import { quoteValue } from './quote.js';
import type { PathSegment } from './yamlpos.js';
import type { NetworkDef } from './types.js';

export interface NetworkReport {
  problem: (path: PathSegment[], message: string) => void;
  /** `file:line` of an entry. */
  place: (path: PathSegment[]) => string;
}

/** The lab's networks (a default one when the file names none), every problem reported. */
export function checkNetworks(raw: RawTopology, lab: string, report: NetworkReport): NetworkDef[] {
  const { problem } = report;
  if (raw.networks && Object.keys(raw.networks).length === 0) problem(['networks'], 'names no network: name at least one, or leave "networks:" out for a default one');
  const rawNetworks = raw.networks ?? { default: networkSchema.parse({}) };
  const networks: NetworkDef[] = [];
  const bridges = new Map<string, string>();
  for (const [netName, n] of Object.entries(rawNetworks)) {
    const at = (...p: PathSegment[]) => (raw.networks ? ['networks', netName, ...p] : []);
    const bridge = n.bridge ?? defaultBridgeName(lab, netName);
    if (bridges.has(bridge)) problem(at('bridge'), `bridge "${bridge}" is already used by network "${bridges.get(bridge)}"`);
    bridges.set(bridge, netName);
    const subnet = n.subnet === undefined ? undefined : checkSubnet(n.subnet, (m) => problem(at('subnet'), m));
    let gateway: number | undefined;
    if (n.gateway !== undefined) {
      gateway = parseIp(n.gateway);
      if (gateway === undefined) problem(at('gateway'), `${quoteValue(n.gateway)} is not an IPv4 address`);
      else if (!subnet) {
        if (n.subnet === undefined) problem(at('gateway'), "a gateway needs the network's subnet");
      } else if (!(contains(subnet, gateway) && gateway !== subnet.network && gateway !== broadcast(subnet))) problem(at('gateway'), `${n.gateway} is not a usable address of ${n.subnet}`);
    }
    if (n.bridge?.startsWith('nlv')) problem(at('bridge'), `"${n.bridge}": names starting with "nlv" are netlab's veth names`);
    if (n.vxlan || n.driver === 'ovs') {
      if (!raw.hosts) problem(at(n.vxlan ? 'vxlan' : 'driver'), 'an overlay joins hosts: the lab needs "hosts:"');
      if (n.vxlan && !n.subnet) problem(at('vxlan'), 'an overlay network needs a "subnet": every host must compute the same addresses');
      if (n.gateway !== undefined && raw.hosts) problem(at('gateway'), 'on a multi-host lab each host gets its own gateway (the first addresses of the subnet); remove "gateway"');
    }
    networks.push({
      name: netName,
      bridge,
      subnet,
      gateway,
      icc: n.icc,
      ipMasquerade: n.ipMasquerade,
      internal: n.internal,
      mtu: n.mtu ?? (n.vxlan ? 1450 : 1500),
      driver: n.driver,
      vxlan: n.vxlan,
      dns: raw.networks ? n.dns : false,
      ...checkNetwork6(n, !!raw.hosts, at, problem),
    });
  }
  overlapping(networks, report);
  overlapping6(networks, problem, report.place);
  return networks;
}

/** The subnet of `text`, or undefined with the reason given to `fail`. */
function checkSubnet(text: string, fail: (message: string) => void): Cidr | undefined {
  const subnet = parseCidr(text);
  if (!subnet) fail(`${quoteValue(text)} is not an IPv4 subnet in CIDR form with its host bits zero (e.g. 172.31.5.0/24)`);
  else if (subnet.prefix > 30 || subnet.prefix < 8) fail(`prefix /${subnet.prefix} must be between /8 and /30`);
  else if (specialSubnet(subnet)) fail(specialSubnet(subnet)!);
  else return subnet;
  return undefined;
}

/** Two networks of one lab on overlapping subnets would both route the same addresses (and share a gateway). */
function overlapping(networks: NetworkDef[], { problem, place }: NetworkReport): void {
  const given = networks.filter((n) => n.subnet);
  given.forEach((b, j) => {
    const a = given.slice(0, j).find((a) => overlaps(a.subnet!, b.subnet!));
    if (a)
      problem(
        ['networks', b.name, 'subnet'],
        `${formatCidr(b.subnet!)} overlaps ${formatCidr(a.subnet!)}, the subnet of network "${a.name}" (${place(['networks', a.name, 'subnet'])}): each network needs its own addresses`,
      );
  });
}

/** A container's static IPv6 addresses (`ip6:`), each checked against its network. */
import { formatIp6, parseCidr6, parseIp6 } from '../model/ipv6.js';
import { quoteValue } from './quote.js';
import { usableIn6 } from './networks6.js';
import type { RawContainer } from './schema.js';
import type { PathSegment } from './yamlpos.js';
import type { ContainerScope } from './container.js';

/** `ip6:` as one address (the first network) or a map by network → canonical addresses by network. */
export function staticAddresses6(ctrName: string, c: RawContainer, nets: string[], { netByName, hosts, shared, problem }: ContainerScope): Record<string, string> {
  const at = (...p: PathSegment[]) => ['containers', ctrName, ...p];
  const out: Record<string, string> = {};
  const entries: [string, string, PathSegment[]][] =
    c.ip6 === undefined ? [] : typeof c.ip6 === 'string' ? [[nets[0] ?? '', c.ip6, at('ip6')]] : Object.entries(c.ip6).map(([k, v]) => [k, v, at('ip6', k)]);
  for (const [netName, text, path] of entries) {
    const net = netByName.get(netName);
    const ip = parseIp6(text);
    const subnet = net?.subnet6 ? parseCidr6(net.subnet6) : undefined;
    const key = ip === undefined ? '' : `${netName}/${formatIp6(ip)}`;
    const owner = shared.staticOwner.get(key);
    const gateway = subnet && (net?.gateway6 ? parseIp6(net.gateway6)! : subnet.network + 1n);
    if (!nets.includes(netName) || !net) problem(path, `the container is not on network "${netName}"`);
    else if (ip === undefined) problem(path, `${quoteValue(text)} is not an IPv6 address`);
    else if (!net.enableIpv6) problem(path, `network "${netName}" has no IPv6: add "ipv6: true" to it`);
    else if (!subnet) problem(path, `a static IPv6 address needs network "${netName}" to have a "subnet6"`);
    else if (!usableIn6(subnet, ip)) problem(path, `${text} is not a usable address of ${netName}'s subnet6 ${net.subnet6}`);
    else if (hosts.length === 0 ? ip === gateway : ip > subnet.network && ip <= subnet.network + BigInt(hosts.length))
      problem(path, `${text} is ${hosts.length ? "a host's gateway" : 'the gateway'} of ${netName}`);
    else if (owner) problem(path, `${text} is already given to container "${owner}"`);
    else {
      shared.staticOwner.set(key, ctrName);
      out[netName] = formatIp6(ip);
    }
  }
  return out;
}

/** The IPv6 lines of `explain`: what each IPv6 command does, in Docker's terms. Pure. */
import type { LabContainer, LabNetwork } from '../model/lab.js';
import type { Op } from './ops.js';

/** Why the host's IPv6 settings: forwarding, as Docker sets it for its IPv6 networks. */
export function host6Why(ops: Op[]): string[] {
  if (!ops.some((o) => o.kind === 'sysctl.set' && o.key === 'net.ipv6.conf.all.forwarding')) return [];
  return ['IPv6 forwarding (net.ipv6.conf.all.forwarding=1) lets the host route IPv6 between its bridges and the outside, as Docker turns it on for networks created with --ipv6.'];
}

/** Why a network's IPv6 gateway and settings. */
export function network6Why(n: LabNetwork): string[] {
  if (!n.ipv6) return [];
  const only = n.ipv4 === false ? ` It has no IPv4 at all (docker network create --ipv4=false --ipv6).` : '';
  return [
    `docker network create --ipv6 --subnet ${n.ipv6.subnet}: the bridge also holds the IPv6 gateway ${n.ipv6.gateway}/${n.ipv6.prefix}, added with nodad (no duplicate address detection, so it answers at once), and accept_ra=0 (a gateway takes no router advertisements), as Docker sets on its bridges.${only}`,
  ];
}

/** Why a container's IPv6 address, route and disable_ipv6=0. */
export function container6Why(c: LabContainer, ops: Op[]): string[] {
  const with6 = c.interfaces.filter((i) => i.ip6);
  if (with6.length === 0) return [];
  const out = with6.map(
    (i) =>
      `On the IPv6 network ${i.network}, ${i.ifname} also gets ${i.ip6}/${i.prefix6} (docker inspect's GlobalIPv6Address, the next free address of the subnet as Docker >= 28 hands them out), added with nodad so it is usable as soon as the interface is up, beside its own link-local fe80:: address.`,
  );
  const route = with6[0]!;
  out.push(`ip -6 route: the IPv6 default route via the gateway ${route.gateway6} (IPv6Gateway); link variables stay IPv4, as Docker's, and /etc/hosts gets a second line for each IPv6 address.`);
  if (ops.some((o) => o.kind === 'netns.sysctl' && o.key.endsWith('.disable_ipv6') && o.value === '0'))
    out.push('disable_ipv6=0 on its IPv6 interfaces: Docker leaves IPv6 on only where an endpoint has an IPv6 address.');
  return out;
}

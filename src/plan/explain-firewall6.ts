/** `explain`'s words for the IPv6 half of the firewall (model/firewall6.ts), in Docker's terms. */
import type { Lab } from '../model/lab.js';
import { portRuns, type PortRun } from '../model/port-runs.js';
import { hostIpText } from '../model/ports.js';
import { masquerades6 } from '../model/firewall6.js';

const span = (r: { start: number; end: number }) => (r.start === r.end ? String(r.start) : `${r.start}-${r.end}`);
const flag = (b: PortRun) => `-p ${b.hostIp !== '0.0.0.0' ? `${hostIpText(b.hostIp)}:` : ''}${span(b.host)}:${span(b.container)}${b.proto !== 'tcp' ? `/${b.proto}` : ''}`;

/** One line per IPv6 rule a Docker user would look for; none for a lab without IPv6. */
export function firewallWhy6(lab: Lab): string[] {
  if (!lab.networks.some((n) => n.ipv6)) return [];
  const out: string[] = [];
  const program =
    lab.firewall === 'nftables'
      ? 'the same inet table (its IPv6 rules say ip6 saddr/daddr, the others serve both families)'
      : 'ip6tables, in the same chain names (one ip6tables-restore beside the iptables-restore)';
  out.push(`IPv6 (Docker's ip6tables, on by default since Docker 27) goes through ${program}.`);
  for (const c of lab.containers) for (const b of portRuns(c.ports)) out.push(...publishWhy6(c.name, b));
  for (const n of lab.networks) {
    if (!n.ipv6) continue;
    if (masquerades6(n) && !n.internal)
      out.push(
        `MASQUERADE of ${n.ipv6.subnet} leaving by any other interface than ${n.bridge} is Docker's IPv6 NAT (ip6Masquerade: true, Docker 27's default; false routes the containers' own addresses).`,
      );
    if (!n.icc)
      out.push(`icc: false on ${n.name} still lets ICMPv6 neighbour discovery pass between its containers: IPv6 finds a neighbour with it, through ip6tables, where IPv4's ARP never passes iptables.`);
  }
  return out;
}

function publishWhy6(ctr: string, b: PortRun): string[] {
  if (b.hostIp === '::1') {
    return [
      `${flag(b)}: no DNAT (Linux has no route_localnet for IPv6, so a packet from ::1 never leaves through a bridge): netlab's loopback proxy answers on [::1], as Docker's docker-proxy does, and a raw DROP keeps packets for ::1 from other interfaces away (Docker 28).`,
    ];
  }
  if (!b.containerIp6 || !(b.hostIp === '0.0.0.0' || b.hostIp.includes(':'))) return [];
  const where = b.hostIp === '0.0.0.0' || b.hostIp === '::' ? 'any IPv6 host address but ::1 (the loopback proxy takes that)' : b.hostIp;
  return [`${flag(b)} over IPv6: a DNAT of ${where} port ${span(b.host)}/${b.proto} to ${ctr} [${b.containerIp6}]:${span(b.container)}, and its ACCEPT in NL-*-PORTS.`];
}

/**
 * Each container's /etc/hosts, as Docker writes it (defaults, links, its own lines) with netlab's
 * lab-peer lines on networks without DNS; kept as pieces that share the peer list. Pure.
 */
import type { LabContainer } from './lab.js';
import { dualEntries, hostsLine, hostsPieces, joinPieces, type HostsEntry, type TextPiece } from './etcfiles.js';
import { hostsNames } from './links.js';

/**
 * Writes every container's /etc/hosts text (files.hosts, and as pieces: hostsPieces): the defaults, its links, every other
 * container of the lab unless only the embedded DNS names them, then its own line. It follows
 * from the resolved containers alone, so the state file leaves it out and this rebuilds it.
 */
export function fillHostsFiles(containers: LabContainer[], ipv6: boolean): void {
  const byName = new Map(containers.map((c) => [c.name, c]));
  const peers = peerLines(containers);
  for (const c of containers) {
    const entries: HostsEntry[] = c.links.flatMap((l) => dualEntries(l.ip, l.ip6, hostsNames(l.alias, byName.get(l.target)?.hostname, l.target)));
    // On user-defined networks the embedded DNS knows the peers; the file holds what Docker's does.
    const others =
      c.resolver && !c.resolver.hostsPeers
        ? []
        : peers(
            c.interfaces.map((i) => i.network),
            [c.name, ...c.links.map((l) => l.target)],
          );
    const first = c.interfaces[0];
    const ownNames = hostsNames(c.hostname, c.hostname.split('.')[0], c.name);
    const own = first ? dualEntries(first.ip, first.ip6, ownNames) : [{ ip: '127.0.1.1', names: ownNames }];
    c.hostsPieces = hostsPieces(entries, own, ipv6, others);
    c.files.hosts = joinPieces(c.hostsPieces);
  }
}

/**
 * The lab-peer lines of every container's /etc/hosts: each other container, in lab order, at its
 * address on the first network (in its own interface order) it shares with the reader, else its
 * first. Readers on the same networks see the same list bar themselves and their links, so the
 * list is rendered once per set of networks and each file takes the slices between the lines it
 * leaves out: linear in the lab's size, where a list per container would be quadratic.
 */
function peerLines(containers: Pick<LabContainer, 'name' | 'hostname' | 'interfaces'>[]): (networks: string[], skip: string[]) => TextPiece[] {
  const index = new Map(containers.map((c, i) => [c.name, i]));
  const names = containers.map((c) => hostsNames(c.hostname, c.name));
  const lists = new Map<string, { text: string; offsets: number[] }>();
  return (networks, skip) => {
    const key = JSON.stringify(networks);
    let list = lists.get(key);
    if (!list) {
      const mine = new Set(networks);
      const offsets: number[] = [0];
      let text = '';
      containers.forEach((other, i) => {
        const shared = other.interfaces.find((oi) => mine.has(oi.network)) ?? other.interfaces[0];
        if (shared) for (const e of dualEntries(shared.ip, shared.ip6, names[i]!)) text += hostsLine(e);
        offsets.push(text.length);
      });
      list = { text, offsets };
      lists.set(key, list);
    }
    const cut = [...new Set(skip.map((n) => index.get(n)).filter((i): i is number => i !== undefined))].sort((a, b) => a - b);
    const out: TextPiece[] = [];
    const { text, offsets } = list;
    let from = 0;
    for (const i of [...cut, containers.length]) {
      if (offsets[i]! > offsets[from]!) out.push({ of: text, start: offsets[from]!, end: offsets[i]! });
      from = i + 1;
    }
    return out;
  };
}

/** Which host's share of a lab this machine builds, and how that share's processes run this netlab. */
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { fileURLToPath } from 'node:url';
import { InputError } from '../errors.js';
import { formatIp } from '../model/ipv4.js';
import type { Topology } from '../topology/types.js';

/**
 * How a container command that starts with `netlab` runs this netlab: the same node and the
 * built CLI (`<package>/dist/cli/main.js`, reached the same way from dist/ and from src/).
 */
export const SELF_ARGV = [process.execPath, fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))];

/** Why `up` refuses: objects with the lab's names that it did not make (status reports the same). */
export function foreignMessage(lab: string, foreign: string[]): string {
  return `these objects carry names lab "${lab}" needs but were not made by it; netlab leaves them alone:\n  ${foreign.join('\n  ')}`;
}

/**
 * Which host's share of a multi-host lab this machine builds: the one named, or the one whose
 * underlay address is on one of this machine's interfaces. Undefined for a single-host lab.
 */
export async function shareHost(topo: Topology, named: string | undefined): Promise<string | undefined> {
  if (topo.hosts.length === 0) {
    if (named !== undefined) throw new InputError([{ path: '--host', message: `lab "${topo.name}" has no "hosts:"; --host is for multi-host labs` }], topo.source);
    return undefined;
  }
  if (named !== undefined) {
    if (!topo.hosts.some((h) => h.name === named)) throw new InputError([{ path: '--host', message: `unknown host "${named}" (hosts: ${topo.hosts.map((h) => h.name).join(', ')})` }], topo.source);
    return named;
  }
  const mine = new Set(Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address)));
  const found = topo.hosts.find((h) => mine.has(formatIp(h.underlay)));
  if (!found) {
    throw new InputError(
      [
        {
          path: 'hosts',
          message: `this machine has none of the hosts' underlay addresses (${topo.hosts.map((h) => `${h.name} ${formatIp(h.underlay)}`).join(', ')}): name its host with --host, or run every host here with --simulate`,
        },
      ],
      topo.source,
    );
  }
  return found.name;
}

/** Userspace datapath unless the Open vSwitch kernel module is loaded (or NETLAB_OVS_DATAPATH says). */
export function ovsDatapath(): 'system' | 'netdev' {
  const forced = process.env.NETLAB_OVS_DATAPATH;
  if (forced === 'system' || forced === 'netdev') return forced;
  return existsSync('/sys/module/openvswitch') ? 'system' : 'netdev';
}

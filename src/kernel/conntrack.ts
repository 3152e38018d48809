/** Deletes conntrack entries, as Docker does for a UDP port it (re)publishes (moby#8795). */
import { log } from '../log.js';
import { run } from './run.js';

/** Entries whose original destination port is the host port: those are the flows a new DNAT must take over. */
export function conntrackArgs(proto: 'udp', port: number, family?: 6): string[] {
  return ['-D', ...familyArgs(family), '-p', proto, '--orig-port-dst', String(port)];
}

/** Older conntrack-tools list and delete IPv4 flows only unless told the family (1.4.7 takes both). */
export const familyArgs = (family?: 6) => (family === 6 ? ['-f', 'ipv6'] : []);

export async function flushConntrack(proto: 'udp', port: number, family?: 6): Promise<void> {
  // conntrack exits 1 when there was nothing to delete: that is fine.
  const r = await run('conntrack', conntrackArgs(proto, port, family), { allowFail: true });
  if (r.exitCode !== 0 && !/0 flow entries/.test(r.stderr)) log().warn({ port, stderr: r.stderr.trim() }, 'conntrack -D failed');
}

/**
 * conntrack -D takes one port, not a range: list the UDP flows once and delete those whose
 * original destination port is in the range, port by port (few: only ports that had flows).
 */
export async function flushConntrackRange(proto: 'udp', start: number, end: number, family?: 6): Promise<void> {
  const listed = await run('conntrack', ['-L', ...familyArgs(family), '-p', proto], { allowFail: true });
  const ports = new Set<number>();
  for (const line of listed.stdout.split('\n')) {
    const m = / dport=(\d+)/.exec(line);
    const port = m ? Number(m[1]) : NaN;
    if (port >= start && port <= end) ports.add(port);
  }
  for (const port of ports) await flushConntrack(proto, port, family);
}

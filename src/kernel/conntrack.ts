/** Deletes conntrack entries, as Docker does for a UDP port it (re)publishes (moby#8795). */
import { log } from '../log.js';
import { run } from './run.js';

/** Entries whose original destination port is the host port: those are the flows a new DNAT must take over. */
export function conntrackArgs(proto: 'udp', port: number): string[] {
  return ['-D', '-p', proto, '--orig-port-dst', String(port)];
}

export async function flushConntrack(proto: 'udp', port: number): Promise<void> {
  // conntrack exits 1 when there was nothing to delete: that is fine.
  const r = await run('conntrack', conntrackArgs(proto, port), { allowFail: true });
  if (r.exitCode !== 0 && !/0 flow entries/.test(r.stderr)) log().warn({ port, stderr: r.stderr.trim() }, 'conntrack -D failed');
}

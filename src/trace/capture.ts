/**
 * `netlab capture`: tcpdump on a container's interface, inside its namespace (or on the host
 * end of its veth with --host-side), addresses shown as container names in text mode; `-w`
 * writes a pcap. Ctrl-C stops tcpdump and waits for it, so the pcap is complete.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { InputError } from '../errors.js';
import { requireShares } from '../engine/query.js';
import type { Lab } from '../model/lab.js';

export interface CaptureOptions {
  lab: string;
  target: string;
  count?: number;
  write?: string;
  hostSide?: boolean;
  filter: string[];
}

export async function capture(o: CaptureOptions, out: (line: string) => void): Promise<number> {
  const lab = (await requireShares(o.lab))[0]!.resolved;
  const [name, ifname = 'eth0'] = o.target.split(':') as [string, string | undefined];
  const c = lab.containers.find((x) => x.name === name);
  if (!c) throw new InputError([{ path: 'NAME', message: `lab "${lab.name}" has no container "${name}" (it has: ${lab.containers.map((x) => x.name).join(', ')})` }]);
  const iface = c.interfaces.find((i) => i.ifname === ifname);
  if (!iface) throw new InputError([{ path: 'NAME:IFACE', message: `container "${name}" has no interface "${ifname}" (it has: ${c.interfaces.map((i) => i.ifname).join(', ')})` }]);
  const args = ['-i', o.hostSide ? iface.hostVeth : ifname, '-n', '-l', ...(o.count ? ['-c', String(o.count)] : []), ...(o.write ? ['-w', o.write, '-U'] : []), ...o.filter];
  const [file, argv] = o.hostSide ? ['tcpdump', args] : ['ip', ['netns', 'exec', c.netns, 'tcpdump', ...args]];
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const names = addressNames(lab);
  createInterface({ input: child.stdout! }).on('line', (line) => out(withNames(line, names)));
  // tcpdump has its own process group: Ctrl-C reaches netlab, which stops tcpdump and waits for its last packets.
  const stop = () => {
    try {
      process.kill(-child.pid!, 'SIGINT');
    } catch {
      /* gone already */
    }
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const code = await new Promise<number>((resolve) => child.on('close', (c, sig) => resolve(c ?? (sig ? 0 : 1))));
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  return code;
}

/** Every address of the lab → the name it shows as: containers by name, each gateway as `host`. */
export function addressNames(lab: Lab): Map<string, string> {
  const m = new Map<string, string>();
  for (const c of lab.containers)
    for (const i of c.interfaces) {
      m.set(i.ip, c.name);
      m.set(i.gateway, 'host');
    }
  return m;
}

/** tcpdump's `10.0.0.2.80 > 10.0.0.3.41000` (and any other mention) with names for addresses. */
export function withNames(line: string, names: Map<string, string>): string {
  return line.replace(/\b(\d{1,3}(?:\.\d{1,3}){3})\b/g, (ip) => names.get(ip) ?? ip);
}

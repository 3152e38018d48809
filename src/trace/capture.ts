/**
 * `netlab capture`: tcpdump on a container's interface, inside its namespace (or on the host
 * end of its veth with --host-side), addresses shown as container names in text mode; `-w`
 * writes a pcap. Ctrl-C stops tcpdump and waits for it, so the pcap is complete.
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { run } from '../kernel/run.js';
import { InputError } from '../errors.js';
import { requireShares } from '../engine/query.js';
import type { Lab, LabContainer } from '../model/lab.js';

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
  const { c, ifname } = captureTarget(lab, o.target);
  const device = o.hostSide ? c.interfaces.find((i) => i.ifname === ifname)!.hostVeth : ifname;
  const inPlace = (args: string[]): [string, string[]] => (o.hostSide ? [args[0]!, args.slice(1)] : ['ip', ['netns', 'exec', c.netns, ...args]]);
  if (o.write) checkWritable(o.write);
  await checkFilter(inPlace, device, o.filter);
  const args = ['-i', device, '-n', '-l', ...(o.count ? ['-c', String(o.count)] : []), ...(o.write ? ['-w', o.write, '-U'] : []), ...o.filter];
  const [file, argv] = inPlace(['sh', '-c', STOPS_WITH_NETLAB, 'tcpdump', ...args]);
  const child = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  const names = addressNames(lab);
  createInterface({ input: child.stdout! }).on('line', (line) => out(withNames(line, names)));
  const listening = new Promise<void>((resolve) => {
    createInterface({ input: child.stderr! }).on('line', (line) => {
      process.stderr.write(`${line}\n`);
      if (/^(tcpdump: )?listening on /.test(line)) resolve();
    });
    child.on('close', () => resolve());
  });
  // tcpdump has its own process group: Ctrl-C reaches netlab, which stops tcpdump and waits for its last
  // packets; not before tcpdump listens, which a stop kills before it wrote its pcap's header.
  const stop = () =>
    void listening.then(() => {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        /* gone already */
      }
    });
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const code = await new Promise<number>((resolve) => child.on('close', (c, sig) => resolve(c ?? (sig ? 0 : 1))));
  child.stdin!.end();
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  return code;
}

/**
 * tcpdump under a shell that stops it (SIGTERM: it writes its last packets) when netlab's end of
 * its stdin closes: when netlab ends, even by SIGKILL, tcpdump does not live on in the namespace.
 * The watcher reads the shell's stdin through fd 3 (a background list's own stdin is /dev/null).
 */
const STOPS_WITH_NETLAB = 'exec 3<&0; tcpdump "$@" & t=$!; { read _ <&3; kill -TERM $t; } >/dev/null 2>&1 & r=$!; wait $t; s=$?; kill $r 2>/dev/null; exit $s';

function captureTarget(lab: Lab, target: string): { c: LabContainer; ifname: string } {
  const [name, ifname = 'eth0'] = target.split(':') as [string, string | undefined];
  const c = lab.containers.find((x) => x.name === name);
  if (!c) throw new InputError([{ path: 'NAME', message: `lab "${lab.name}" has no container "${name}" (it has: ${lab.containers.map((x) => x.name).join(', ')})` }]);
  if (!c.interfaces.some((i) => i.ifname === ifname))
    throw new InputError([{ path: 'NAME:IFACE', message: `container "${name}" has no interface "${ifname}" (it has: ${c.interfaces.map((i) => i.ifname).join(', ')})` }]);
  return { c, ifname };
}

/** -w FILE: its folder must exist, and FILE must not be a folder (tcpdump would fail after starting). */
function checkWritable(file: string): void {
  const dir = dirname(resolve(file));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InputError([{ path: '-w/--write', message: `${file}: the folder ${dir} does not exist` }]);
  if (existsSync(file) && statSync(file).isDirectory()) throw new InputError([{ path: '-w/--write', message: `${file} is a folder, not a file` }]);
}

/** The filter compiled by tcpdump itself (-d) on the interface, before any capture starts. */
async function checkFilter(inPlace: (args: string[]) => [string, string[]], device: string, filter: string[]): Promise<void> {
  if (filter.length === 0) return;
  const [file, argv] = inPlace(['tcpdump', '-i', device, '-d', ...filter]);
  const r = await run(file, argv, { allowFail: true });
  if (r.exitCode !== 0) throw new InputError([{ path: 'FILTER', message: `tcpdump refuses "${filter.join(' ')}": ${r.stderr.trim().replace(/^tcpdump: /, '')}` }]);
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

/**
 * The trace's own kernel work: its tables, its monitors (`nft -a monitor trace`, one per
 * namespace: the kernel reports a traced packet only to listeners in the packet's namespace,
 * and clears the trace bit when the packet changes namespace), the `outside` namespace.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../kernel/run.js';
import { NETNS_DIR } from '../paths.js';
import { dropRecord, outsideVeth, staleRecords, TRACE_ENV, traceName, type TraceRecord } from './marks.js';

/** argv that runs `file args` in a namespace (undefined: the host's own). */
export const inNs = (ns: string | undefined, file: string, args: string[]): [string, string[]] => (ns ? ['ip', ['netns', 'exec', ns, file, ...args]] : [file, args]);

export async function addTable(ns: string | undefined, script: string): Promise<void> {
  const [f, a] = inNs(ns, 'nft', ['-f', '-']);
  await run(f, a, { input: script });
}

export async function removeTable(ns: string | undefined, name: string): Promise<void> {
  if (ns && !existsSync(join(NETNS_DIR, ns))) return;
  const [f, a] = inNs(ns, 'nft', ['delete', 'table', 'ip', name]);
  await run(f, a, { allowFail: true });
}

/** One line a monitor printed, with when it arrived (lines of different namespaces are ordered by it). */
export interface StampedLine {
  at: number;
  line: string;
}

export interface Monitor {
  /** Its process group (the record lists it: a killed netlab's monitors are stopped by the next run). */
  pid: number;
  lines: StampedLine[];
  stop(): Promise<void>;
}

/**
 * Waits until every monitor's nft sleeps on its netlink socket (subscribed: it reports from then
 * on), or `ms` passed. The nft process is the child of the monitor's shell.
 */
export async function monitorsReady(monitors: Monitor[], ms = 3000): Promise<void> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline && !monitors.every((m) => nftWaiting(m.pid))) await new Promise((r) => setTimeout(r, 20));
}

function nftWaiting(shellPid: number): boolean {
  try {
    const kids = readFileSync(`/proc/${shellPid}/task/${shellPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return kids.some((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('nft\0') && /^\d+ \(nft\) S /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')));
  } catch {
    return false;
  }
}

/**
 * Starts `nft -a monitor trace` in a namespace, line-buffered so that each line is stamped on
 * arrival. A shell holds it and stops it when its stdin closes: when netlab ends, even by SIGKILL.
 */
export function startMonitor(ns: string | undefined, name: string): Monitor {
  const [f, a] = inNs(ns, 'sh', ['-c', 'stdbuf -oL nft -a monitor trace & read _; kill $!']);
  // Marked with its trace's name, as the lab's other processes are: found by it, never by a pid alone.
  const child = spawn(f, a, { stdio: ['pipe', 'pipe', 'ignore'], detached: true, env: { ...process.env, [TRACE_ENV]: name } });
  const lines: StampedLine[] = [];
  let rest = '';
  child.stdout!.on('data', (d: Buffer) => {
    const parts = (rest + d.toString()).split('\n');
    rest = parts.pop() ?? '';
    const at = performance.now();
    for (const line of parts) if (line.trim()) lines.push({ at, line });
  });
  return { pid: child.pid!, lines, stop: () => stopChild(child) };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('close', () => resolve());
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      resolve();
    }
  });
}

/** The `outside` machine: a namespace joined to the host by a veth, on a free /30 of TEST-NET-1 (192.0.2.0/24). */
export interface Outside {
  netns: string;
  veth: string;
  hostAddr: string;
  peerAddr: string;
  /** A loopback address the outside machine routes to the host instead of keeping it to itself. */
  loopback?: string;
}

export async function makeOutside(lab: string, loopback?: string): Promise<Outside> {
  const netns = traceName(lab);
  const veth = outsideVeth();
  const used = await usedAddresses();
  const base = [...Array(63).keys()].map((i) => ((process.pid + i) % 63) * 4).find((b) => !used.has(`192.0.2.${b + 1}`) && !used.has(`192.0.2.${b + 2}`));
  if (base === undefined) throw new Error('no free /30 in 192.0.2.0/24 for the "outside" namespace');
  const o: Outside = { netns, veth, hostAddr: `192.0.2.${base + 1}`, peerAddr: `192.0.2.${base + 2}`, ...(loopback ? { loopback } : {}) };
  const ip = (...args: string[]) => run('ip', args);
  await ip('netns', 'add', netns);
  await ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
  await ip('link', 'set', veth, 'alias', `netlab:${lab}:trace:outside`);
  await ip('addr', 'add', `${o.hostAddr}/30`, 'dev', veth);
  await ip('link', 'set', veth, 'up');
  await ip('-n', netns, 'addr', 'add', `${o.peerAddr}/30`, 'dev', 'eth0');
  await ip('-n', netns, 'link', 'set', 'eth0', 'up');
  // A neighbour that sends 127.0.0.0/8 to the host: its own lo stays down, so no local route keeps those addresses.
  if (loopback) await ip('-n', netns, 'route', 'add', '127.0.0.0/8', 'via', o.hostAddr);
  else await ip('-n', netns, 'link', 'set', 'lo', 'up');
  await ip('-n', netns, 'route', 'add', 'default', 'via', o.hostAddr);
  return o;
}

async function usedAddresses(): Promise<Set<string>> {
  const r = await run('ip', ['-j', '-4', 'addr', 'show']);
  const links = JSON.parse(r.stdout || '[]') as { addr_info?: { local: string }[] }[];
  return new Set(links.flatMap((l) => (l.addr_info ?? []).map((a) => a.local)));
}

export async function removeOutside(o: { netns: string; veth: string }): Promise<void> {
  await run('ip', ['link', 'del', o.veth], { allowFail: true });
  if (existsSync(join(NETNS_DIR, o.netns))) await run('ip', ['netns', 'del', o.netns], { allowFail: true });
}

/** Removes everything a trace made, as its record lists it. */
export async function removeTraced(r: TraceRecord): Promise<void> {
  for (const pid of (r.monitors ?? []).filter((p) => isTraceMonitor(p, traceName(r.lab, r.pid)))) {
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      /* ended meanwhile */
    }
  }
  if (r.lab) for (const ns of r.tables) await removeTable(ns ?? undefined, traceName(r.lab, r.pid));
  if (r.outside) await removeOutside(r.outside);
  await dropRecord(r.pid);
}

/** Whether pid is still the monitor of that trace (and not a process that got its pid since): by its mark. */
function isTraceMonitor(pid: number, name: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`${TRACE_ENV}=${name}`);
  } catch {
    return false;
  }
}

/** What traces of netlab runs that died (SIGKILL) left behind: removed now. */
export async function sweepStaleTraces(): Promise<number> {
  const stale = staleRecords();
  for (const r of stale) await removeTraced(r);
  return stale.length;
}

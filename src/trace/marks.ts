/**
 * The temporary objects of a trace and how they are found again. Each is named after the
 * lab and the pid of the netlab that made it (`nltrace-<lab>-<pid>`): an nftables table in
 * every namespace the probe crosses, and for `outside` a namespace and its veth. A record in
 * /run/netlab/.traces/<pid>.json lists them, so that when that netlab dies (SIGKILL) the next
 * netlab command removes them.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { rm, rmdir } from 'node:fs/promises';
import { writeOwnAtomic } from '../kernel/ownfs.js';
import { join } from 'node:path';
import { RUN_DIR } from '../paths.js';

export const TRACE_PREFIX = 'nltrace';
export const tracesDir = () => join(RUN_DIR, '.traces');

/** The environment variable that marks a trace's monitor processes with the trace's name. */
export const TRACE_ENV = 'NETLAB_TRACE';

/** The name of a trace's table (in each namespace) and of its `outside` namespace. */
export const traceName = (lab: string, pid = process.pid) => `${TRACE_PREFIX}-${lab}-${pid}`;
/** The host end of the `outside` veth (15 bytes at most: a pid has at most 7 digits). */
export const outsideVeth = (pid = process.pid) => `nltr${pid}`;

/** What a trace made, to be removed by it or, when it died, by the next netlab run. */
export interface TraceRecord {
  pid: number;
  lab: string;
  /** Namespaces (undefined: the host's own) that hold the trace's table. */
  tables: (string | undefined)[];
  outside?: { netns: string; veth: string };
  /** Process groups of its `nft monitor trace` processes. */
  monitors?: number[];
  /** Inode of the network namespace the trace ran in: only a netlab there removes what it left. */
  hostNetns?: number;
}

/** The network namespace this process runs in, as its inode. */
export const ownNetns = () => statSync('/proc/self/ns/net').ino;

export async function writeRecord(r: TraceRecord): Promise<void> {
  // Twice: another trace may remove the folder, empty, between the two steps.
  for (let attempt = 0; ; attempt++) {
    try {
      // Never through a symbolic link planted in netlab's folder (kernel/ownfs.ts).
      return writeOwnAtomic(join(tracesDir(), `${r.pid}.json`), JSON.stringify({ ...r, hostNetns: ownNetns() }), 0o600, 0o700);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 0) throw e;
    }
  }
}

export async function dropRecord(pid = process.pid): Promise<void> {
  await rm(join(tracesDir(), `${pid}.json`), { force: true });
  // An empty folder goes, so that netlab's other commands need not look into it.
  await rmdir(tracesDir()).catch(() => undefined);
}

/** The records of traces run in this network namespace whose netlab is gone. */
export function staleRecords(): TraceRecord[] {
  const dir = tracesDir();
  if (!existsSync(dir)) return [];
  const here = ownNetns();
  const out: TraceRecord[] = [];
  for (const f of readdirSync(dir)) {
    const pid = Number(f.replace(/\.json$/, ''));
    if (!Number.isInteger(pid) || pid === process.pid || alive(pid)) continue;
    try {
      const r = JSON.parse(readFileSync(join(dir, f), 'utf8')) as TraceRecord;
      if (r.hostNetns === undefined || r.hostNetns === here) out.push(r);
    } catch {
      out.push({ pid, lab: '', tables: [] });
    }
  }
  return out;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface ProbeMatch {
  proto: 'tcp' | 'udp' | 'icmp';
  /** The probe's source port (TCP, UDP) or echo identifier (ICMP): unique to this probe. */
  key: number;
  /** The ports the probe may be sent to before and after DNAT (TCP, UDP). */
  dports: number[];
  /** UDP ports of the lab's VXLAN tunnels: the probe crossing one is matched inside its envelope too. */
  tunnelPorts?: number[];
}

/**
 * The table that marks the probe for tracing in one namespace. The marking chains run before
 * everything (raw is -300); the empty chains at 1000 show the packet after every other rule of
 * their hook: what a hook finally let through, with NAT applied.
 */
export function traceTableScript(name: string, lab: string, m: ProbeMatch): string {
  const marks = matchExprs(m).map((e) => `    ${e} meta nftrace set 1`);
  const chain = (c: string, hook: string, prio: number, body: string[] = []) => [`  chain ${c} {`, `    type filter hook ${hook} priority ${prio}; policy accept;`, ...body, '  }'];
  return [
    `table ip ${name} {`,
    `  comment "netlab:${lab}:trace"`,
    ...chain('t_pre', 'prerouting', -301, marks),
    ...chain('t_out', 'output', -301, marks),
    ...chain('t_in', 'input', 1000),
    ...chain('t_fwd', 'forward', 1000),
    ...chain('t_post', 'postrouting', 1000),
    '}',
    '',
  ].join('\n');
}

/** The matches of the probe, its answer, and an ICMP error about either (which quotes the probe's header). */
export function matchExprs(m: ProbeMatch): string[] {
  return [...plainExprs(m), ...tunnelExprs(m)];
}

/**
 * The probe inside a VXLAN envelope: UDP (8 bytes), VXLAN (8), Ethernet (14), IP (20), then the
 * probe's own header at byte 50. The expression names the direction: bit 400 holds the probe's
 * source port, 416 its answer's destination port; for ICMP, bit 400 the echo type and 432 its id.
 */
export function tunnelExprs(m: ProbeMatch): string[] {
  if (!m.tunnelPorts?.length) return [];
  const udp = `udp dport ${m.tunnelPorts.length === 1 ? m.tunnelPorts[0] : `{ ${[...new Set(m.tunnelPorts)].join(', ')} }`}`;
  if (m.proto === 'icmp') return [`${udp} @th,400,8 8 @th,432,16 ${m.key}`, `${udp} @th,400,8 0 @th,432,16 ${m.key}`];
  return [`${udp} @th,400,16 ${m.key}`, `${udp} @th,416,16 ${m.key}`];
}

function plainExprs(m: ProbeMatch): string[] {
  if (m.proto === 'icmp') {
    // An ICMP error quotes the echo's header: its identifier is 4 bytes into it, 28 past the error's own.
    return [`icmp type { echo-request, echo-reply } icmp id ${m.key}`, `icmp type { destination-unreachable, time-exceeded } @th,256,16 ${m.key}`];
  }
  const ports = m.dports.length === 1 ? String(m.dports[0]) : `{ ${[...new Set(m.dports)].join(', ')} }`;
  return [
    `${m.proto} sport ${m.key} ${m.proto} dport ${ports}`,
    `${m.proto} dport ${m.key} ${m.proto} sport ${ports}`,
    // The quoted header starts 8 bytes into the error; its source port 20 bytes (the IP header) later.
    `icmp type { destination-unreachable, time-exceeded } @th,224,16 ${m.key}`,
  ];
}

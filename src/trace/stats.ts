/**
 * `netlab stats`: the kernel's own counters for a lab. Per container interface what the
 * container sees (`ip -s link` in its namespace: rx/tx packets, bytes, drops); per published
 * port the counters of its DNAT rule, and per link the counters of its ACCEPT rules (iptables
 * keeps a counter on every rule; netlab's nftables rules have none, so those read null).
 * Rules are found by their text (chain, ports, addresses), never by their place.
 */
import { requireShares } from '../engine/query.js';
import { run } from '../kernel/run.js';
import { chain } from '../model/names.js';
import { exposeRuns, formatExposeRun, formatRun, portRuns, type PortRun } from '../model/port-runs.js';
import type { Lab, LabContainer } from '../model/lab.js';

export interface InterfaceStats {
  container: string;
  ifname: string;
  rx: { packets: number; bytes: number; dropped: number; errors: number };
  tx: { packets: number; bytes: number; dropped: number; errors: number };
}

export interface RuleCounter {
  packets: number | null;
  bytes: number | null;
}

export interface LabStats {
  lab: string;
  firewall: Lab['firewall'];
  interfaces: InterfaceStats[];
  /** One per published port: `0.0.0.0:8080->80/tcp` and its DNAT rule's counters. */
  ports: ({ container: string; port: string; rule?: string } & RuleCounter)[];
  /** One per link and exposed port: the ACCEPT of the link's requests. */
  links: ({ from: string; to: string; port: string; rule?: string } & RuleCounter)[];
}

export async function labStats(labName: string, only?: string): Promise<LabStats> {
  const lab = (await requireShares(labName))[0]!.resolved;
  const containers = lab.containers.filter((c) => !only || c.name === only);
  if (only && containers.length === 0) throw new (await import('../errors.js')).InputError([{ path: 'NAME', message: `lab "${labName}" has no container "${only}"` }]);
  const interfaces = (await Promise.all(containers.map(interfaceStats))).flat();
  const saved = lab.firewall === 'iptables' ? await savedWithCounters() : [];
  const counted = (chainName: string, ...needles: string[]) => counter(saved, chainName, needles, lab.firewall);
  const ports = containers.flatMap((c) =>
    portRuns(c.ports).map((p) => ({
      container: c.name,
      port: formatRun(p),
      ...dnatCounter(p, (ip) => counted(chain.dnat(lab.name), `-p ${p.proto} `, `--dport ${colon(p.host)} `, `--to-destination ${dnatDestination(p, ip)} `)),
    })),
  );
  const links = lab.containers.flatMap((parent) =>
    parent.links.flatMap((l) => {
      const child = lab.containers.find((c) => c.name === l.target)!;
      if (only && only !== parent.name && only !== child.name) return [];
      const from = parent.interfaces.find((i) => child.interfaces.some((j) => j.ip === l.ip && j.network === i.network));
      return exposeRuns(child.expose).map((e) => ({
        from: parent.name,
        to: child.name,
        port: formatExposeRun(e),
        ...counted(chain.ports(lab.name), `-s ${from?.ip}/32 -d ${l.ip}/32 `, `-p ${e.proto} `, `--dport ${colon(e)} `),
      }));
    }),
  );
  return { lab: lab.name, firewall: lab.firewall, interfaces, ports, links };
}

const colon = (r: { start: number; end: number }) => (r.start === r.end ? String(r.start) : `${r.start}:${r.end}`);

/** The DNAT's --to-destination as iptables-rules.ts renders it for a run, to `ip` (IPv6 in brackets before a port). */
function dnatDestination(p: PortRun, ip: string): string {
  const withPort = ip.includes(':') ? `[${ip}]` : ip;
  if (p.host.start === p.host.end) return `${withPort}:${p.container.start}`;
  if (p.host.start === p.container.start) return ip;
  return `${withPort}:${p.container.start}-${p.container.end}/${p.host.start}`;
}

/** A published run's hits: its IPv4 DNAT's and its IPv6 DNAT's (model/firewall6.ts), added up. */
function dnatCounter(p: PortRun, count: (ip: string) => RuleCounter & { rule?: string }): RuleCounter & { rule?: string } {
  const v4 = p.containerIp && !p.hostIp.includes(':') ? count(p.containerIp) : undefined;
  const v6 = p.containerIp6 && p.hostIp !== '::1' && (p.hostIp === '0.0.0.0' || p.hostIp.includes(':')) ? count(p.containerIp6) : undefined;
  const found = [v4, v6].filter((c) => c && c.packets !== null) as (RuleCounter & { rule?: string })[];
  if (found.length === 0) return v4 ?? v6 ?? { packets: null, bytes: null };
  return { packets: found.reduce((n, c) => n + c.packets!, 0), bytes: found.reduce((n, c) => n + c.bytes!, 0), rule: found[0]!.rule };
}

async function interfaceStats(c: LabContainer): Promise<InterfaceStats[]> {
  const r = await run('ip', ['-n', c.netns, '-s', '-j', 'link', 'show'], { allowFail: true });
  if (r.exitCode !== 0) return [];
  type Side = { bytes: number; packets: number; errors: number; dropped: number };
  const links = JSON.parse(r.stdout || '[]') as { ifname: string; stats64?: { rx: Side; tx: Side } }[];
  const pick = (s: Side) => ({ packets: s.packets, bytes: s.bytes, dropped: s.dropped, errors: s.errors });
  return links.filter((l) => l.ifname !== 'lo' && l.stats64).map((l) => ({ container: c.name, ifname: l.ifname, rx: pick(l.stats64!.rx), tx: pick(l.stats64!.tx) }));
}

async function savedWithCounters(): Promise<string[]> {
  const out: string[] = [];
  for (const program of ['iptables-save', 'ip6tables-save']) {
    for (const t of ['nat', 'filter']) out.push(...(await run(program, ['-c', '-t', t], { allowFail: true })).stdout.split('\n'));
  }
  return out;
}

/** The counters of the one rule of `chainName` whose text holds every needle. */
export function counter(saved: string[], chainName: string, needles: string[], firewall: Lab['firewall']): RuleCounter & { rule?: string } {
  if (firewall !== 'iptables') return { packets: null, bytes: null };
  const line = saved.find((l) => l.includes(`-A ${chainName} `) && needles.every((n) => `${l} `.includes(n)));
  const m = line && /^\[(\d+):(\d+)\] (.*)$/.exec(line);
  return m ? { packets: Number(m[1]), bytes: Number(m[2]), rule: m[3] } : { packets: null, bytes: null };
}

export function statsText(s: LabStats): string {
  const rows = [['CONTAINER', 'IFACE', 'RX PKTS', 'RX BYTES', 'RX DROP', 'TX PKTS', 'TX BYTES', 'TX DROP']];
  for (const i of s.interfaces) rows.push([i.container, i.ifname, ...[i.rx.packets, i.rx.bytes, i.rx.dropped, i.tx.packets, i.tx.bytes, i.tx.dropped].map(String)]);
  const out = [table(rows)];
  const n = (v: number | null) => (v === null ? '-' : String(v));
  if (s.ports.length) out.push('', table([['PUBLISHED', 'CONTAINER', 'DNAT PKTS', 'DNAT BYTES'], ...s.ports.map((p) => [p.port, p.container, n(p.packets), n(p.bytes)])]));
  if (s.links.length) out.push('', table([['LINK', 'PORT', 'ACCEPT PKTS', 'ACCEPT BYTES'], ...s.links.map((l) => [`${l.from} -> ${l.to}`, l.port, n(l.packets), n(l.bytes)])]));
  if (s.firewall === 'nftables' && (s.ports.length || s.links.length)) out.push('', '(firewall: nftables: netlab\'s nftables rules carry no counters, so rule counts show "-")');
  return `${out.join('\n')}\n`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

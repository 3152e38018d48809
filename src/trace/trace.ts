/**
 * `netlab trace`: one real probe from SRC to DST, marked for the kernel's tracing by a
 * temporary table in every namespace it crosses, followed by a monitor in each, then every
 * temporary object removed (also on Ctrl-C; after a SIGKILL, by the next netlab run).
 */
import { existsSync } from 'node:fs';
import { NetlabError, InputError } from '../errors.js';
import { simulateFile } from '../paths.js';
import { simName } from '../model/names.js';
import { linuxVxlanPort } from '../plan/desired.js';
import { requireShares } from '../engine/query.js';
import type { Lab, LabContainer } from '../model/lab.js';
import { containerPortOf } from '../model/ports.js';
import { addTable, makeOutside, monitorsReady, removeTraced, startMonitor, sweepStaleTraces, type Monitor, type Outside } from './kernel.js';
import { outsideVeth, traceName, traceTableScript, writeRecord, type TraceRecord } from './marks.js';
import { buildLegs, endOf } from './path.js';
import { probeKey, sendProbe } from './probe.js';
import { iptablesTexts, type IptablesTexts } from './rules.js';
import { destinationAddress, loopbackOnly, parseEndpoint, sourceAddress, splitTarget, type Endpoint } from './endpoints.js';
import type { TraceResult } from './model.js';
import type { TraceLine } from './parse.js';

export interface TraceOptions {
  lab: string;
  from: string;
  to: string;
  proto: 'tcp' | 'udp' | 'icmp';
  timeoutMs?: number;
}

/** How long the monitors get to print what the probe and its answer did. */
const SETTLE_MS = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function trace(o: TraceOptions): Promise<TraceResult> {
  await sweepStaleTraces();
  const { lab, hostOf } = await labForTrace(o.lab);
  const target = splitTarget(o.to);
  const from = parseEndpoint(lab, o.from, 'SRC');
  const to = parseEndpoint(lab, target.name, 'DST');
  if (lab.hosts.length > 0 && (from.kind !== 'container' || to.kind !== 'container'))
    throw new InputError([{ path: from.kind !== 'container' ? 'SRC' : 'DST', message: 'in a multi-host lab, a trace goes from a container to a container' }]);
  if (from.kind === 'outside' && to.kind === 'outside')
    throw new InputError([{ path: 'DST', message: 'outside to outside never leaves the throwaway namespace: trace from or to a container or host' }]);
  if (o.proto !== 'icmp' && target.port === undefined) throw new InputError([{ path: 'DST', message: `a ${o.proto} trace needs a port: ${o.to}:PORT` }]);
  const record: TraceRecord = { pid: process.pid, lab: lab.name, tables: [] };
  const monitors: Monitor[] = [];
  const cleanup = once(async () => {
    await Promise.all(monitors.map((m) => m.stop()));
    await removeTraced(record);
  });
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await writeRecord(record);
    let outside: Outside | undefined;
    if (from.kind === 'outside' || to.kind === 'outside') {
      record.outside = { netns: traceName(lab.name), veth: outsideVeth() };
      await writeRecord(record);
      const loopback = from.kind === 'outside' && to.kind === 'host' && target.port !== undefined ? loopbackOnly(lab, target.port, o.proto) : undefined;
      outside = await makeOutside(lab.name, loopback);
    }
    return await follow({ lab, hostOf, from, to, port: target.port, proto: o.proto, timeoutMs: o.timeoutMs ?? 2000, outside }, record, monitors);
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** A namespace the probe crosses, by the name the trace shows (a container, `host`, `outside`, a simulated machine). */
interface Space {
  label: string;
  ns?: string;
}

interface Probe {
  lab: Lab;
  hostOf: (c: LabContainer) => { label: string; ns?: string };
  from: Endpoint;
  to: Endpoint;
  port?: number;
  proto: TraceOptions['proto'];
  timeoutMs: number;
  outside?: Outside;
}

/** Marks, monitors, sends, reads: the trace proper, once its endpoints exist. */
async function follow(p: Probe, record: TraceRecord, monitors: Monitor[]): Promise<TraceResult> {
  const { lab, from, to, port, proto, outside } = p;
  const nsOf = (e: Endpoint) => (e.kind === 'outside' ? outside!.netns : e.netns);
  // A published port leads on to the container behind it.
  const behind = port === undefined || to.kind === 'container' ? [] : publishedBy(lab, port, proto).map((c) => ({ label: c.name, ns: c.netns }));
  const hosts: Space[] = lab.hosts.length === 0 ? [{ label: 'host' }] : [p.hostOf(from.container!), p.hostOf(to.container!)];
  const spaces = dedupe<Space>([{ label: from.name, ns: nsOf(from) }, ...hosts, ...behind, { label: to.name, ns: nsOf(to) }]);
  const daddr = destinationAddress(from, to, outside);
  const key = probeKey();
  const dports = port === undefined ? [] : [port, ...publishedTargets(lab, port, proto)];
  record.tables = spaces.map((s) => s.ns);
  await writeRecord(record);
  // The port a Linux VXLAN device really uses (it yields OVS's port to OVS, see linuxVxlanPort).
  const tunnelPorts = lab.networks.flatMap((n) => (n.vxlan ? [n.driver === 'ovs' ? n.vxlan.port : linuxVxlanPort(lab, n.vxlan.port)] : []));
  const script = traceTableScript(traceName(lab.name), lab.name, { proto, key, dports, tunnelPorts });
  for (const s of spaces) await addTable(s.ns, script);
  monitors.push(...spaces.map((s) => startMonitor(s.ns, traceName(lab.name))));
  record.monitors = monitors.map((m) => m.pid);
  await writeRecord(record);
  await monitorsReady(monitors);
  const probe = await sendProbe({ proto, ns: nsOf(from), daddr, dport: port, key, timeoutMs: p.timeoutMs });
  await sleep(SETTLE_MS);
  await Promise.all(monitors.map((m) => m.stop()));
  const texts = new Map<string, IptablesTexts>();
  for (const [i, s] of spaces.entries()) if (hosts.some((h) => h.label === s.label)) texts.set(s.label, await iptablesTexts(s.ns, seenIpTables(monitors[i]!)));
  const lines = spaces.map((s, i) => ({ label: s.label, lines: monitors[i]!.lines }));
  const legs = buildLegs({ lab: lab.name, proto, key, tunnelPorts, spaces: lines, ruleText: (space, l) => ruleText(texts.get(space), l) });
  return {
    schema: 1,
    lab: lab.name,
    firewall: lab.firewall,
    proto,
    from: { name: from.name, ...(nsOf(from) ? { netns: nsOf(from) } : {}), address: sourceAddress(from, outside) },
    to: { name: to.name, ...(nsOf(to) ? { netns: nsOf(to) } : {}), address: daddr, ...(port !== undefined && proto !== 'icmp' ? { port } : {}) },
    probe: { ...(proto === 'icmp' ? { echoId: key } : { sourcePort: key }), outcome: probe.outcome },
    ...legs,
    end: endOf(legs.forward, legs.reply, probe.outcome),
  };
}

/** The lab, and the namespace of each container's host: the host's own, or in a simulated multi-host lab its machine's. */
async function labForTrace(name: string): Promise<{ lab: Lab; hostOf: (c: LabContainer) => { label: string; ns?: string } }> {
  const shares = await requireShares(name);
  const lab = shares[0]!.resolved;
  if (lab.hosts.length === 0) return { lab, hostOf: () => ({ label: 'host' }) };
  if (!existsSync(simulateFile(name)))
    throw new NetlabError(`lab "${name}" spans several machines: netlab trace follows a multi-host lab only when it is simulated on this one (netlab up --simulate)`);
  return { lab, hostOf: (c) => ({ label: c.host!, ns: simName.hostNetns(name, c.host!) }) };
}

function publishedBy(lab: Lab, port: number, proto: string): LabContainer[] {
  return lab.containers.filter((c) => c.ports.some((p) => containerPortOf(p, port, proto) !== undefined));
}

/** The container ports a published host port leads to: the probe keeps its port match after DNAT. */
function publishedTargets(lab: Lab, port: number, proto: string): number[] {
  return lab.containers.flatMap((c) => c.ports.flatMap((p) => containerPortOf(p, port, proto) ?? []));
}

function seenIpTables(m: Monitor): string[] {
  const seen = new Set<string>();
  for (const { line } of m.lines) {
    const t = /^trace id \S+ ip (raw|mangle|nat|filter) /.exec(line.trim());
    if (t) seen.add(t[1]!);
  }
  return [...seen];
}

function ruleText(texts: IptablesTexts | undefined, l: Extract<TraceLine, { kind: 'rule' }>): string {
  if (texts && l.family === 'ip' && l.handle !== undefined) {
    const t = texts.get(`${l.table} ${l.chain} ${l.handle}`);
    if (t) return t;
  }
  if (l.family === 'inet' && l.table === 'netlab') return `add rule inet netlab ${l.chain} ${l.text}`;
  return l.text;
}

function dedupe<T extends { ns?: string }>(xs: T[]): T[] {
  return xs.filter((x, i) => xs.findIndex((y) => y.ns === x.ns) === i);
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}

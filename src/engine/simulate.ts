/**
 * `--simulate`: the multi-VM experiment on one machine. Each host of the topology becomes a
 * network namespace (`netlab-<lab>-host-<name>`) with its underlay address on an `eth0` that a
 * veth joins to one underlay bridge in the root namespace; then each host's share is built by
 * running `netlab up --host <name>` *inside* that namespace, exactly as on a real VM. A
 * simulated host's own Open vSwitch runs there too (scripts/ovs-daemons.sh), with the userspace
 * datapath, which needs the underlay address on an OVS bridge.
 */
import { existsSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import { stopProcesses } from '../kernel/processes.js';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { ConflictError, InputError, KernelError } from '../errors.js';
import { formatIp } from '../model/ipv4.js';
import { mark, macFromIp, parseMark, simName } from '../model/names.js';
import { diff } from '../plan/diff.js';
import type { Op } from '../plan/ops.js';
import { emptyState, type LabState } from '../plan/state.js';
import { applyOps } from '../kernel/apply.js';
import { selectBackend } from '../kernel/backend.js';
import { observe } from '../kernel/observe.js';
import { run } from '../kernel/run.js';
import { writeAtomic } from '../kernel/host.js';
import { labDir, NETNS_DIR, ovsRunDir, simulateFile } from '../paths.js';
import { loadTopology, resolveTopologyFile, type LoadOptions } from '../topology/load.js';
import type { Topology } from '../topology/types.js';
import { withHostLock } from './lock.js';
import { requireRoot } from './root.js';
import { SELF_ARGV } from './share.js';
import { GONE, onErrno } from '../kernel/errno.js';

export const OVS_SCRIPT = fileURLToPath(new URL('../../scripts/ovs-daemons.sh', import.meta.url));

export interface SimulateOptions extends LoadOptions {
  dryRun?: boolean;
  /** Each host's `up --force`: replace a running lab of the same name built from another file. */
  force?: boolean;
  onStep?: (ops: Op[]) => void;
}

export interface SimulateResult {
  lab: string;
  /** Ops on the simulated machines and their underlay. */
  ops: Op[];
  /** What each host's `netlab up` / `down` printed. */
  hosts: { host: string; output: string }[];
  ms: number;
}

/** The simulated machines: a namespace per host, its uplink veth, and the underlay bridge joining them. */
export function underlayState(topo: Topology): LabState {
  const s = emptyState(topo.name);
  const usesOvs = topo.networks.some((n) => n.driver === 'ovs');
  const bridge = simName.underlayBridge(topo.name);
  s.hostLinks[bridge] = { kind: 'bridge', alias: mark.underlay(topo.name), mtu: 1500, up: true, addrs: [] };
  for (const h of topo.hosts) {
    const ns = simName.hostNetns(topo.name, h.name);
    const uplink = simName.uplink(topo.name, h.name);
    s.hostLinks[uplink] = { kind: 'veth', alias: mark.uplink(topo.name, h.name), mtu: 1500, up: true, master: bridge, addrs: [], peer: { ns, name: 'eth0' } };
    s.namespaces[ns] = {
      mark: mark.host(topo.name, h.name),
      loUp: true,
      // With OVS's userspace datapath the address moves to an OVS bridge (see ensureOvsUnderlay).
      ifaces: { eth0: { mac: macFromIp(h.underlay).replace(/^02:42/, '02:4e'), mtu: 1500, up: true, addrs: usesOvs ? [] : [`${formatIp(h.underlay)}/${h.prefix}`] } },
      routes: [],
    };
  }
  return s;
}

const inHost = (lab: string, host: string) => ['nsenter', `--net=${NETNS_DIR}/${simName.hostNetns(lab, host)}`];

/** The environment of a simulated host's own netlab: its own Open vSwitch (OVS_RUNDIR), with the userspace datapath. */
export function simulatedHostEnv(lab: string, host: string, ovs: boolean): Record<string, string> {
  return { NETLAB_HOST_LOCK_HELD: '1', NETLAB_SIMULATED_HOST: '1', ...(ovs ? { OVS_RUNDIR: ovsRunDir(lab, host), NETLAB_OVS_DATAPATH: 'netdev' } : {}) };
}

/** Runs netlab itself inside a simulated host, as that host's own `netlab`. */
async function netlabOnHost(lab: string, host: string, args: string[], ovs: boolean): Promise<string> {
  const [nsenter, ...nsArgs] = inHost(lab, host);
  const r = await execa(nsenter!, [...nsArgs, ...SELF_ARGV, ...args], { reject: false, all: true, env: simulatedHostEnv(lab, host, ovs) });
  if (r.exitCode !== 0) throw new KernelError(`host ${host}: netlab ${args.join(' ')} failed:\n${r.all}`);
  return String(r.all ?? '');
}

/**
 * A simulated host's own Open vSwitch, as argv lists (run here, and printed by `explain --simulate`):
 * start its daemons inside its namespace, then give its underlay address to an OVS bridge, because
 * the userspace datapath sends tunnel packets only through an OVS bridge's own port.
 */
export function ovsUnderlayCommands(lab: string, host: { name: string; underlay: string; prefix: number }): string[][] {
  const rundir = ovsRunDir(lab, host.name);
  const ns = inHost(lab, host.name);
  const br = simName.ovsUnderlay(lab, host.name);
  return [
    [...ns, 'bash', OVS_SCRIPT, 'start', rundir],
    [
      'ovs-vsctl',
      `--db=unix:${rundir}/db.sock`,
      '--timeout=10',
      '--may-exist',
      'add-br',
      br,
      '--',
      'set',
      'bridge',
      br,
      'datapath_type=netdev',
      `external_ids:netlab-underlay=${lab}`,
      '--',
      '--may-exist',
      'add-port',
      br,
      'eth0',
    ],
    [...ns, 'ip', 'addr', 'replace', `${host.underlay}/${host.prefix}`, 'dev', br],
    [...ns, 'ip', 'link', 'set', br, 'up'],
  ];
}

async function ensureOvsUnderlay(topo: Topology, host: Topology['hosts'][number]): Promise<void> {
  for (const [program, ...args] of ovsUnderlayCommands(topo.name, { name: host.name, underlay: formatIp(host.underlay), prefix: host.prefix })) await run(program!, args);
}

/** What `up --simulate` records, so that `down` knows the lab runs simulated here. */
export function simulateRecord(topo: Topology, file: string): string {
  return `${JSON.stringify({ file, hosts: topo.hosts.map((h) => h.name), ovs: topo.networks.some((n) => n.driver === 'ovs') }, null, 2)}\n`;
}

export async function simulateUp(opts: SimulateOptions): Promise<SimulateResult> {
  const topo = loadTopology(opts);
  if (topo.hosts.length === 0) throw new InputError([{ path: 'hosts', message: '--simulate runs the hosts of a multi-host lab: the lab has no "hosts:"' }], topo.source);
  requireRoot('up --simulate');
  const file = resolveTopologyFile(opts).path;
  const nameArgs = [...(opts.name ? ['-l', opts.name] : []), ...(opts.force ? ['--force'] : [])];
  const usesOvs = topo.networks.some((n) => n.driver === 'ovs');
  const backend = selectBackend();
  return withHostLock('simulate the lab', async () => {
    const started = performance.now();
    const want = underlayState(topo);
    const seen = await observe({ lab: topo.name, scope: 'underlay', want }, backend);
    if (seen.foreign.length > 0) throw new ConflictError(`these objects carry names the simulated hosts need but were not made by netlab:\n  ${seen.foreign.join('\n  ')}`);
    const ops = diff(want, seen.state);
    const hosts: SimulateResult['hosts'] = [];
    if (opts.dryRun) {
      for (const h of topo.hosts) {
        if (existsSync(`${NETNS_DIR}/${simName.hostNetns(topo.name, h.name)}`))
          hosts.push({ host: h.name, output: await netlabOnHost(topo.name, h.name, ['up', '--dry-run', '-f', file, '--host', h.name, ...nameArgs], usesOvs) });
      }
      return { lab: topo.name, ops, hosts, ms: performance.now() - started };
    }
    await applyOps(ops, { onStep: opts.onStep }, backend);
    await writeAtomic(simulateFile(topo.name), simulateRecord(topo, file), 0o600);
    for (const h of topo.hosts) {
      if (usesOvs) await ensureOvsUnderlay(topo, h);
      hosts.push({ host: h.name, output: await netlabOnHost(topo.name, h.name, ['up', '-f', file, '--host', h.name, ...nameArgs], usesOvs) });
    }
    return { lab: topo.name, ops, hosts, ms: performance.now() - started };
  });
}

/** Processes whose command line contains `text`. */
async function pidsMentioning(text: string): Promise<number[]> {
  const pids: number[] = [];
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(onErrno(GONE, ''));
    if (cmdline.includes(text)) pids.push(Number(pid));
  }
  return pids;
}

export async function simulateDown(lab: string, opts: { dryRun?: boolean; onStep?: (ops: Op[]) => void } = {}): Promise<SimulateResult> {
  requireRoot('down --simulate');
  const backend = selectBackend();
  return withHostLock('take the simulated lab down', async () => {
    const started = performance.now();
    const want = emptyState(lab);
    const seen = await observe({ lab, scope: 'underlay', want }, backend);
    const hostNames = Object.values(seen.state.namespaces)
      .map((n) => parseMark(n.mark)?.names[0])
      .filter((h): h is string => !!h);
    const hosts: SimulateResult['hosts'] = [];
    for (const h of hostNames) {
      const ovs = existsSync(`${ovsRunDir(lab, h)}/db.sock`);
      hosts.push({ host: h, output: await netlabOnHost(lab, h, ['down', '--lab', lab, '--host', h, ...(opts.dryRun ? ['--dry-run'] : [])], ovs) });
      if (ovs && !opts.dryRun) {
        const [nsenter, ...nsArgs] = inHost(lab, h);
        await run(nsenter!, [...nsArgs, 'bash', OVS_SCRIPT, 'stop', ovsRunDir(lab, h)]);
      }
    }
    const ops = diff(want, seen.state);
    if (!opts.dryRun) {
      // Daemons whose pid files are gone (an interrupted run) still name their folder on their command line.
      await stopProcesses(await pidsMentioning(`${labDir(lab)}/ovs/`));
      await applyOps(ops, { onStep: opts.onStep }, backend);
      await rm(labDir(lab), { recursive: true, force: true });
    }
    return { lab, ops, hosts, ms: performance.now() - started };
  });
}

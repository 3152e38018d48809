/**
 * Read-only views of a lab that need no root: `explain` and `graph`. The lab is resolved
 * against the host as `up` would (its routes pick the subnet, `ip route` works as a user),
 * keeping the choices of a lab that is already up when its state file can be read.
 */
import { ConflictError, InputError } from '../errors.js';
import { loadTopology, type LoadOptions } from '../topology/load.js';
import { resolveLab, SubnetTakenError, type Lab } from '../model/lab.js';
import { PoolExhaustedError } from '../model/ipam.js';
import { desiredState } from '../plan/desired.js';
import { diff } from '../plan/diff.js';
import { emptyState } from '../plan/state.js';
import { dnsSection } from '../dns/explain.js';
import { proxySection } from '../proxy/explain.js';
import { explainSections, type ExplainSection, type HostShare, type SimulatedMachines } from '../plan/explain.js';
import type { Op } from '../plan/ops.js';
import { renderOp, shellQuote } from '../plan/render.js';
import { resolveTopologyFile } from '../topology/load.js';
import type { Topology } from '../topology/types.js';
import type { LabHost } from '../model/lab.js';
import { formatIp } from '../model/ipv4.js';
import { simName } from '../model/names.js';
import { ovsRunDir, simulateFile } from '../paths.js';
import { gatherContext } from './context.js';
import { kernelHasIpv6 } from '../kernel/host.js';
import { loadState } from './state.js';
import { labSource, sameSource } from './labsource.js';
import { ovsDatapath, SELF_ARGV, shareHost } from './share.js';
import { ovsUnderlayCommands, simulateRecord, underlayState } from './simulate.js';

export interface LabView {
  lab: Lab;
  /** True when the lab is up and this is its state as applied (live addresses and ports). */
  live: boolean;
}

/** `live`: when the lab is up from this same file, show it as applied rather than as the file says. */
export async function viewLab(opts: LoadOptions & { live?: boolean; topology?: Topology; host?: string }): Promise<LabView> {
  const topo = opts.topology ?? loadTopology(opts);
  // Read without a word when it cannot be (a user without root, a broken file): the view is then the file's.
  const prev = (await loadState(topo.name, opts.host)).state;
  if (opts.live && prev && sameSource(prev.source, labSource(opts, topo))) return { lab: prev.resolved, live: true };
  const ctx = await gatherContext(topo.name, prev?.allocation);
  try {
    const lab = resolveLab(topo, ctx, opts.host);
    return { lab, live: false };
  } catch (e) {
    if (e instanceof PoolExhaustedError) throw new InputError([{ path: 'networks', message: e.message }], topo.source);
    if (e instanceof SubnetTakenError) throw new ConflictError(e.message);
    throw e;
  }
}

export interface ExplainOptions extends LoadOptions {
  /** A multi-host lab: only this host's share. */
  host?: string;
  /** A multi-host lab: also how `up --simulate` makes the hosts and their underlay on one machine. */
  simulate?: boolean;
}

export interface ExplainView extends LabView {
  /** A single-host lab's sections (empty for a multi-host lab). */
  sections: ExplainSection[];
  /** A multi-host lab: each host's share. */
  shares: HostShare[];
  simulated?: SimulatedMachines;
}

/** The commands that build the lab from nothing, grouped and explained (per host for a multi-host lab). */
export async function explain(opts: ExplainOptions): Promise<ExplainView> {
  const topo = loadTopology(opts);
  if (topo.hosts.length === 0) {
    if (opts.host !== undefined || opts.simulate) {
      throw new InputError(
        [{ path: opts.simulate ? '--simulate' : '--host', message: `lab "${topo.name}" has no "hosts:"; ${opts.simulate ? '--simulate' : '--host'} is for multi-host labs` }],
        topo.source,
      );
    }
    const view = await viewLab({ ...opts, topology: topo });
    const ops = diff(desiredState(view.lab, { selfArgv: SELF_ARGV, ipv6: kernelHasIpv6() }), emptyState(view.lab.name));
    return { ...view, sections: withDns(view.lab, explainSections(view.lab, ops)), shares: [] };
  }
  if (opts.host !== undefined) await shareHost(topo, opts.host);
  const usesOvs = topo.networks.some((n) => n.driver === 'ovs');
  // A simulated host runs the userspace datapath; a real one, what `up` would pick on this machine.
  const datapath = opts.simulate ? 'netdev' : ovsDatapath();
  const shares: HostShare[] = [];
  let first: LabView | undefined;
  for (const h of topo.hosts) {
    if (opts.host !== undefined && h.name !== opts.host) continue;
    const view = await viewLab({ ...opts, topology: topo, host: h.name });
    first ??= view;
    const ops = diff(desiredState(view.lab, { selfArgv: SELF_ARGV, ovsDatapath: datapath, ipv6: kernelHasIpv6() }), emptyState(view.lab.name));
    const host = view.lab.hosts.find((x) => x.name === h.name)!;
    const share: HostShare = { host, sections: withDns(view.lab, explainSections(view.lab, ops)) };
    if (opts.simulate && usesOvs) share.machine = [ovsMachineSection(topo.name, host)];
    shares.push(share);
  }
  const simulated = opts.simulate ? simulatedMachines(topo, resolveTopologyFile(opts).path) : undefined;
  return { ...first!, sections: [], shares, ...(simulated ? { simulated } : {}) };
}

/** The sections, then the embedded DNS's part when the lab has a user-defined network here, and the IPv6 loopback proxy's when a port reaches [::1]. */
function withDns(lab: Lab, sections: ExplainSection[]): ExplainSection[] {
  const dns = dnsSection(lab);
  const proxy = proxySection(lab, kernelHasIpv6());
  return [...sections, ...(dns ? [dns] : []), ...(proxy ? [proxy] : [])];
}

/** The namespaces that play the hosts, the underlay bridge that joins them, and the record `down` reads. */
function simulatedMachines(topo: Topology, file: string): SimulatedMachines {
  const want = underlayState(topo);
  const ops: Op[] = [...diff(want, emptyState(topo.name)), { kind: 'file.write', path: simulateFile(topo.name), content: simulateRecord(topo, file) }];
  const usesOvs = topo.networks.some((n) => n.driver === 'ovs');
  const bridge = simName.underlayBridge(topo.name);
  const why = [
    `Every VM of the file becomes a network namespace netlab-${topo.name}-host-<name> with its underlay address on its eth0 (${topo.hosts.map((h) => `${h.name} ${formatIp(h.underlay)}/${h.prefix}`).join(', ')}); a veth pair joins each one's eth0 to the bridge ${bridge} here, which plays the private network between the VMs (Vagrant's host-only network). Each host then runs its own share inside its namespace, exactly as on a VM.`,
    ...(usesOvs ? ["(With Open vSwitch's userspace datapath, the underlay address goes on an OVS bridge instead of eth0: see each host's Open vSwitch below.)"] : []),
    `${simulateFile(topo.name)} records that the lab runs simulated here, so that "netlab down" removes the machines too.`,
  ];
  return {
    sections: [{ subject: { kind: 'other' }, title: `the simulated machines: underlay bridge ${bridge}`, why, ops, commands: ops.map(renderOp) }],
    netns: Object.fromEntries(topo.hosts.map((h) => [h.name, simName.hostNetns(topo.name, h.name)])),
    env: Object.fromEntries(topo.hosts.map((h) => [h.name, usesOvs ? { OVS_RUNDIR: ovsRunDir(topo.name, h.name) } : ({} as Record<string, string>)])),
  };
}

/** A simulated host's own Open vSwitch (what the openvswitch-switch service is on a VM). */
function ovsMachineSection(lab: string, host: LabHost): ExplainSection {
  return {
    subject: { kind: 'other' },
    title: `${host.name}'s own Open vSwitch`,
    why: [
      `On a VM the openvswitch-switch service runs ovsdb-server (the configuration database) and ovs-vswitchd (the switch); a simulated host gets its own pair, started inside its namespace with all their files in ${ovsRunDir(lab, host.name)}, which OVS_RUNDIR points ovs-vsctl and ovs-ofctl to.`,
      `The userspace datapath sends tunnel packets only through an OVS bridge's own port, so the underlay address ${host.underlay}/${host.prefix} moves from eth0 to the OVS bridge ${simName.ovsUnderlay(lab, host.name)}, with eth0 as its port.`,
    ],
    ops: [],
    commands: ovsUnderlayCommands(lab, host).map((argv) => argv.map(shellQuote).join(' ')),
  };
}

/**
 * `status`: how the lab's kernel objects compare with what its last `up` built. Drift (rules
 * flushed by a firewall reload, a veth deleted by hand, a process that died) is what the next
 * `up` would change; status only reads.
 */
import { desiredState } from '../plan/desired.js';
import { diff } from '../plan/diff.js';
import type { Op } from '../plan/ops.js';
import type { FirewallState } from '../plan/state.js';
import { observe } from '../kernel/observe.js';
import { requireRoot } from './root.js';
import { requireShares, statuses, textOf, type ContainerState, type ContainerStatus } from './query.js';
import { foreignMessage, ovsDatapath, SELF_ARGV } from './share.js';
import { otherSourceMessage, sameSource } from './labsource.js';
import { selectBackend, type BackendName } from '../kernel/backend.js';
import { NetlabError } from '../errors.js';
import { kernelHasIpv6 } from '../kernel/host.js';
import { resolverConfig } from '../dns/records.js';
import { resolverPid } from '../dns/lifecycle.js';
import { proxyPid } from '../proxy/lifecycle.js';
import { wantedProxy } from '../proxy/sync.js';

export interface LabStatus {
  lab: string;
  firewall: 'iptables' | 'nftables';
  /** True when `up` would change nothing. */
  inSync: boolean;
  containers: { name: string; status: ContainerStatus; statusText: string; pid?: number; restarts?: number; exitCode?: number }[];
  /** Firewall rules the lab should have and does not, and rules it has that it should not. */
  firewallDrift: { missing: string[]; extra: string[] };
  /** What `up` would do, in words, one entry per kind of change: `2 veth pairs to make`. */
  changes: string[];
  /** Why `up` would refuse to change the lab (exit code 2), in the words it would use. */
  refusal?: string;
  ops: Op[];
  /** The lab's embedded DNS resolver, when a container here is on a user-defined network. */
  resolver?: { status: 'running' | 'missing'; pid?: number };
  /** The lab's IPv6 loopback proxy, when a published port here reaches [::1]. */
  proxy?: { status: 'running' | 'missing'; pid?: number };
}

/**
 * `source`: the file the lab was named by (not given when named with --lab); a lab built from
 * another file is reported as `up` would refuse it.
 */
export async function status(lab: string, opts: { backend?: BackendName; source?: string } = {}): Promise<LabStatus> {
  requireRoot('status');
  const shares = await requireShares(lab);
  if (shares.length > 1) {
    throw new NetlabError(
      `lab "${lab}" runs on ${shares.length} simulated hosts; each keeps its own firewall: run "nsenter --net=/run/netns/netlab-${lab}-host-<host> netlab status --lab ${lab}" per host`,
    );
  }
  const s = shares[0]!;
  const want = desiredState(s.resolved, { selfArgv: SELF_ARGV, ovsDatapath: ovsDatapath(), ipv6: kernelHasIpv6() });
  const seen = await observe({ lab, host: s.host, want, last: { planned: s.planned, started: s.started } }, selectBackend(opts.backend));
  const ops = diff(want, seen.state);
  const st = await statuses(s);
  const refusal =
    opts.source !== undefined && !sameSource(s.source, opts.source) ? otherSourceMessage(lab, s.source, opts.source, 'up') : seen.foreign.length > 0 ? foreignMessage(lab, seen.foreign) : undefined;
  const resolver = resolverConfig(s.resolved) ? resolverStatus(lab, s.host) : undefined;
  const proxy = wantedProxy(s.resolved, kernelHasIpv6()).config ? processStatus(proxyPid(lab, s.host)) : undefined;
  return {
    lab,
    firewall: s.resolved.firewall,
    inSync: ops.length === 0 && !refusal && resolver?.status !== 'missing' && proxy?.status !== 'missing',
    ...(resolver ? { resolver } : {}),
    ...(proxy ? { proxy } : {}),
    containers: s.resolved.containers.filter((c) => st.has(c.name)).map((c) => ({ ...containerLine(c.name, st.get(c.name)!) })),
    firewallDrift: firewallDrift(want.firewall, seen.state.firewall?.backend === want.firewall?.backend ? seen.state.firewall : undefined),
    changes: [...changeWords(ops), ...(resolver?.status === 'missing' ? ['the DNS resolver to start'] : []), ...(proxy?.status === 'missing' ? ['the IPv6 loopback proxy to start'] : [])],
    ...(refusal ? { refusal } : {}),
    ops,
  };
}

function resolverStatus(lab: string, host: string | undefined): NonNullable<LabStatus['resolver']> {
  return processStatus(resolverPid(lab, host));
}

const processStatus = (pid: number | undefined): { status: 'running' | 'missing'; pid?: number } => (pid === undefined ? { status: 'missing' } : { status: 'running', pid });

function firewallDrift(want: FirewallState | undefined, have: FirewallState | undefined): { missing: string[]; extra: string[] } {
  // ip6tables' lines say so: the same rule text is often in both families.
  const lines = (f: FirewallState | undefined) =>
    new Set(Object.entries(f?.tables ?? {}).flatMap(([key, t]) => [...t.jumps, ...t.rules, ...t.chains.map((c) => `chain ${c}`)].map((l) => (key.startsWith('ip6 ') ? `ip6tables ${l}` : l))));
  const w = lines(want);
  const h = lines(have);
  return { missing: [...w].filter((l) => !h.has(l)), extra: [...h].filter((l) => !w.has(l)) };
}

function containerLine(name: string, st: ContainerState): LabStatus['containers'][number] {
  const { status, pid, state } = st;
  return { name, status, statusText: textOf(st), ...(pid ? { pid } : {}), ...(state ? { restarts: state.RestartCount, exitCode: state.ExitCode } : {}) };
}

/** Each kind of change in words, singular and plural. */
const WORDS: Record<Op['kind'], [string, string]> = {
  'netns.add': ['network namespace to make', 'network namespaces to make'],
  'netns.del': ['network namespace to remove', 'network namespaces to remove'],
  'bridge.add': ['bridge to make', 'bridges to make'],
  'veth.add': ['veth pair to make', 'veth pairs to make'],
  'vxlan.add': ['VXLAN device to make', 'VXLAN devices to make'],
  'fdb.append': ['VXLAN peer to add', 'VXLAN peers to add'],
  'fdb.del': ['VXLAN peer to remove', 'VXLAN peers to remove'],
  'link.del': ['link to remove', 'links to remove'],
  'link.set': ['link setting to fix', 'link settings to fix'],
  'addr.add': ['address to add', 'addresses to add'],
  'addr.del': ['address to remove', 'addresses to remove'],
  'route.replace': ['route to set', 'routes to set'],
  'route.del': ['route to remove', 'routes to remove'],
  'netns.sysctl': ['namespace sysctl to set', 'namespace sysctls to set'],
  'kernel.reap': ['wait for the kernel to remove veths', 'waits for the kernel to remove veths'],
  'sysctl.set': ['host sysctl to set', 'host sysctls to set'],
  'file.write': ['/etc file to write', '/etc files to write'],
  'file.del': ['file to remove', 'files to remove'],
  'uts.add': ['hostname to set', 'hostnames to set'],
  'uts.del': ['UTS namespace to remove', 'UTS namespaces to remove'],
  'mnt.add': ['mount namespace to make', 'mount namespaces to make'],
  'mnt.del': ['mount namespace to remove', 'mount namespaces to remove'],
  'firewall.apply': ['firewall update', 'firewall updates'],
  'firewall.remove': ['firewall removal', 'firewall removals'],
  'conntrack.flush': ['conntrack flush', 'conntrack flushes'],
  'process.start': ['container command to start', 'container commands to start'],
  'process.stop': ['container command to stop', 'container commands to stop'],
  'ovs.bridge.add': ['Open vSwitch bridge to make', 'Open vSwitch bridges to make'],
  'ovs.bridge.del': ['Open vSwitch bridge to remove', 'Open vSwitch bridges to remove'],
  'ovs.port.add': ['Open vSwitch port to add', 'Open vSwitch ports to add'],
  'ovs.port.del': ['Open vSwitch port to remove', 'Open vSwitch ports to remove'],
  'ovs.plug': ['Open vSwitch plug to set', 'Open vSwitch plugs to set'],
  'ovs.flows': ['Open vSwitch flow table to set', 'Open vSwitch flow tables to set'],
  'tc.set': ['link impairment (tc qdisc) to set', 'link impairments (tc qdiscs) to set'],
};

/** What `up` would do, one entry per kind of change: `1 container command to start`. */
export function changeWords(ops: Op[]): string[] {
  const counts = new Map<Op['kind'], number>();
  for (const op of ops) counts.set(op.kind, (counts.get(op.kind) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${n} ${WORDS[k][n === 1 ? 0 : 1]}`);
}

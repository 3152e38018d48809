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
import { ovsDatapath, SELF_ARGV } from './up.js';
import { selectBackend, type BackendName } from '../kernel/backend.js';
import { NetlabError } from '../errors.js';
import { kernelHasIpv6 } from '../kernel/host.js';

export interface LabStatus {
  lab: string;
  firewall: 'iptables' | 'nftables';
  /** True when `up` would change nothing. */
  inSync: boolean;
  containers: { name: string; status: ContainerStatus; statusText: string; pid?: number; restarts?: number; exitCode?: number }[];
  /** Firewall rules the lab should have and does not, and rules it has that it should not. */
  firewallDrift: { missing: string[]; extra: string[] };
  /** What `up` would do, one line per Op kind: `2 veth.add`. */
  changes: string[];
  ops: Op[];
}

export async function status(lab: string, opts: { backend?: BackendName } = {}): Promise<LabStatus> {
  requireRoot('status');
  const shares = await requireShares(lab);
  if (shares.length > 1) {
    throw new NetlabError(`lab "${lab}" runs on ${shares.length} simulated hosts; each keeps its own firewall: run "nsenter --net=/run/netns/netlab-${lab}-host-<host> netlab status --lab ${lab}" per host`);
  }
  const s = shares[0]!;
  const want = desiredState(s.resolved, { selfArgv: SELF_ARGV, ovsDatapath: ovsDatapath(), ipv6: kernelHasIpv6() });
  const seen = await observe({ lab, host: s.host, want, planned: s.planned, started: s.started, known: true }, selectBackend(opts.backend));
  const ops = diff(want, seen.state);
  const st = await statuses(s);
  const counts = new Map<string, number>();
  for (const op of ops) counts.set(op.kind, (counts.get(op.kind) ?? 0) + 1);
  return {
    lab,
    firewall: s.resolved.firewall,
    inSync: ops.length === 0,
    containers: s.resolved.containers.filter((c) => st.has(c.name)).map((c) => ({ ...containerLine(c.name, st.get(c.name)!) })),
    firewallDrift: firewallDrift(want.firewall, seen.state.firewall?.backend === want.firewall?.backend ? seen.state.firewall : undefined),
    changes: [...counts].map(([k, n]) => `${n} ${k}`),
    ops,
  };
}

function firewallDrift(want: FirewallState | undefined, have: FirewallState | undefined): { missing: string[]; extra: string[] } {
  const lines = (f: FirewallState | undefined) =>
    new Set(Object.values(f?.tables ?? {}).flatMap((t) => [...t.jumps, ...t.rules, ...t.chains.map((c) => `chain ${c}`)]));
  const w = lines(want);
  const h = lines(have);
  return { missing: [...w].filter((l) => !h.has(l)), extra: [...h].filter((l) => !w.has(l)) };
}

function containerLine(name: string, st: ContainerState): LabStatus['containers'][number] {
  const { status, pid, state } = st;
  return { name, status, statusText: textOf(st), ...(pid ? { pid } : {}), ...(state ? { restarts: state.RestartCount, exitCode: state.ExitCode } : {}) };
}

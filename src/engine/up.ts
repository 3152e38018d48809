/** `up`: make the kernel match the topology, changing only what differs. */
import { ConflictError, InputError, InterruptedError, NetlabError } from '../errors.js';
import { loadTopologyCached } from '../topology/cache.js';
import type { LoadOptions } from '../topology/source.js';
import type { Topology } from '../topology/types.js';
import { allocationOf, placeIn, publishPath, resolveLab, SubnetTakenError, type Lab, type LabContext } from '../model/lab.js';
import { hostPortsOf } from '../model/ports.js';
import { PoolExhaustedError } from '../model/ipam.js';
import { desiredState } from '../plan/desired.js';
import { diff } from '../plan/diff.js';
import type { Op } from '../plan/ops.js';
import type { LabState } from '../plan/state.js';
import { observe, readFirewalls, type FirewallReads, type Observation } from '../kernel/observe.js';
import { selectBackend, type BackendName, type KernelBackend } from '../kernel/backend.js';
import { hostNetnsId } from '../kernel/host.js';
import type { IpLink } from '../kernel/linkview.js';
import { isHostWideSysctl, readHostRecord, writeHostRecord } from './hostrecord.js';
import { stateFile } from '../paths.js';
import { gatherContext, readHostView } from './context.js';
import { withHostLock } from './lock.js';
import { labJson, loadState, RENDERER, warnBroken, writeState, type StateFile, type StateRead } from './state.js';
import { labSource, requireSameSource } from './labsource.js';
import { requireRoot } from './root.js';
import { foreignMessage, ovsDatapath, SELF_ARGV, shareHost } from './share.js';
import { hostPathProblems } from '../topology/runtime.js';
import { log } from '../log.js';
import type { Stamps } from '../kernel/stamps.js';
import { resolverConfig } from '../dns/records.js';
import { ensureResolver, releaseNamespaces, startResolverEarly, type EnsureResult } from '../dns/lifecycle.js';
import { syncProxy } from '../proxy/sync.js';
import type { ProxyResult } from '../proxy/lifecycle.js';
import { portHolder } from './portholder.js';
import { hasImpairment, readOverrides, requireNetem, withOverrides } from './impairoverrides.js';

export interface UpOptions extends LoadOptions {
  /** A topology already loaded (the library API); otherwise it is read from `file`. */
  topology?: Topology;
  /** The host whose share to build, in a multi-host lab (default: the host whose underlay address this machine has). */
  host?: string;
  /** Plan only: report the Ops and change nothing. */
  dryRun?: boolean;
  /** How to talk to the kernel: `netlink` (in-process, the default) or `iproute2` (the `ip` program); default NETLAB_BACKEND. */
  backend?: BackendName;
  /** Called with every Op before any is applied (progress reporting). */
  onPlan?: (ops: Op[], lab: string) => void;
  onStep?: (ops: Op[]) => void;
  /** Aborting it (Ctrl-C) stops the run after the step in hand, with the state file written. */
  signal?: AbortSignal;
  /** Replace a running lab of the same name that was built from another file. */
  force?: boolean;
}

export interface UpResult {
  lab: Lab;
  ops: Op[];
  ms: number;
  /** The state file as this run left it (not on a dry run). */
  state?: StateFile;
  /** What this run did to the lab's DNS resolver (not on a dry run). */
  resolver?: EnsureResult;
  /** What this run did to the lab's IPv6 loopback proxy (not on a dry run). */
  proxy?: ProxyResult;
}

export async function up(opts: UpOptions = {}): Promise<UpResult> {
  const topo = opts.topology ?? (await loadTopologyCached(opts));
  const backend = selectBackend(opts.backend);
  // Read where it runs (a cached parse may be older than the host), before any change.
  const missing = hostPathProblems(topo.containers.filter((c) => !opts.host || c.host === opts.host));
  if (missing.length > 0) throw new InputError(missing, topo.source);
  requireRoot('up');
  return withHostLock('bring the lab up', async () => {
    const started = performance.now();
    const plan = await planUp(topo, opts, backend);
    if (opts.dryRun) return { lab: plan.lab, ops: plan.ops, ms: performance.now() - started };
    const { state, resolver, proxy } = await carryOut(plan, opts, backend);
    return { lab: plan.lab, ops: plan.ops, ms: performance.now() - started, state, resolver, proxy };
  });
}

/** Everything `up` decided before changing anything: the lab, what it wants, what is there, the Ops between. */
interface UpPlan {
  lab: Lab;
  host: string | undefined;
  source: string;
  read: StateRead;
  ctx: LabContext;
  want: LabState;
  /** The namespaces and host links the lab wants (recorded, so a crashed run's are found). */
  planned: { netns: string[]; links: string[] };
  /** The lab and the renderers are those of the last run: the same files are wanted. */
  sameWant: boolean;
  seen: Observation;
  ops: Op[];
}

/** Reads the host, the last run's state and the kernel, and plans the Ops; changes nothing. */
async function planUp(topo: Topology, opts: UpOptions, backend: KernelBackend): Promise<UpPlan> {
  const started = performance.now();
  const lap: Record<string, number> = {};
  const mark = (what: string) => (lap[what] = Math.round(performance.now() - started));
  const host = await shareHost(topo, opts.host);
  const read = await loadState(topo.name, host, { hosts: false });
  warnBroken(read);
  const prev = read.state;
  const source = labSource(opts, topo);
  if (!opts.force) requireSameSource(topo.name, prev?.source, source, 'up');
  // The firewall programs run while this process gathers the context and plans.
  const firewallReads = readFirewalls(topo.name, !!prev);
  const hostRead = readHostView();
  const ctx = await gatherContext(topo.name, prev?.allocation, hostRead);
  const hostView = await hostRead;
  mark('context');
  await refuseBusyPorts(topo, host, ctx, prev);
  const lab = withOverrides(resolveOrRefuse(topo, ctx, host), readOverrides(topo.name));
  await requireNetem(lab, topo.source);
  mark('resolved');
  const want = desiredState(lab, { selfArgv: SELF_ARGV, ovsDatapath: ovsDatapath(), ipv6: ctx.ipv6 });
  mark('desired');
  const planned = { netns: Object.keys(want.namespaces), links: Object.keys(want.hostLinks) };
  // The same lab (same resolved JSON, same build of the file renderers) wants the same files.
  const sameWant = !!prev && prev.hostsIpv6 === ctx.ipv6 && prev.renderer === RENDERER && (read.resolvedJson ?? labJson(prev.resolved)) === labJson(lab);
  const hostLinks = hostView.inProcess && backend.hostInProcess ? hostView.links : undefined;
  // A lab that had impairments reads its qdiscs, to remove those the file no longer has.
  const qdiscs = hasImpairment(lab) || (!!prev && hasImpairment(prev.resolved));
  const seen = await observeShare({ lab, host, want, prev, sameWant, firewallReads, hostLinks, qdiscs }, backend);
  mark('observed');
  const ops = diff(want, seen.state);
  mark('diffed');
  log().debug({ ops: ops.length, ...lap }, 'up (ms since start)');
  return { lab, host, source, read, ctx, want, planned, sameWant, seen, ops };
}

/** Published host ports another program or lab holds (not this lab's own from its last run): refused, five named at most. */
async function refuseBusyPorts(topo: Topology, host: string | undefined, ctx: LabContext, prev: StateFile | undefined): Promise<void> {
  const previousPorts = new Set(prev?.resolved.containers.flatMap((c) => c.ports.flatMap((p) => hostPortsOf(p).map((port) => `${port}/${p.proto}`))) ?? []);
  const busy = await busyPorts(topo, host, ctx.usedHostPorts, previousPorts);
  if (busy.length > 0) throw new ConflictError(firstLines(busy, 5));
}

/** The topology resolved on this host; no free subnet is bad input, a subnet taken meanwhile a conflict. */
function resolveOrRefuse(topo: Topology, ctx: LabContext, host: string | undefined): Lab {
  try {
    return resolveLab(topo, ctx, host);
  } catch (e) {
    if (e instanceof PoolExhaustedError) throw new InputError([{ path: 'networks', message: e.message }], topo.source);
    if (e instanceof SubnetTakenError) throw new ConflictError(e.message);
    throw e;
  }
}

interface ShareToObserve {
  lab: Lab;
  host: string | undefined;
  want: LabState;
  prev: StateFile | undefined;
  sameWant: boolean;
  firewallReads: FirewallReads;
  hostLinks: IpLink[] | undefined;
  qdiscs: boolean;
}

/** What the kernel has of the lab's share; objects with its names it did not make are refused. */
async function observeShare(s: ShareToObserve, backend: KernelBackend): Promise<Observation> {
  const seen = await observe(
    {
      lab: s.lab.name,
      host: s.host,
      want: s.want,
      last: s.prev,
      qdiscs: s.qdiscs,
      hints: { stamps: s.prev?.stamps, sameWant: s.sameWant, firewallReads: s.firewallReads, hostLinks: s.hostLinks },
    },
    backend,
  );
  if (seen.foreign.length > 0) throw new ConflictError(foreignMessage(s.lab.name, seen.foreign));
  for (const w of seen.warnings) log().warn(w);
  return seen;
}

/** Applies the plan: the state first (so a crash leaves it found), then the Ops, the state again, the DNS resolver and the IPv6 loopback proxy. */
async function carryOut(plan: UpPlan, opts: UpOptions, backend: KernelBackend): Promise<{ state: StateFile; resolver: EnsureResult; proxy: ProxyResult }> {
  const { lab, host, ops, seen } = plan;
  const { state, adopted } = await stateBefore(plan);
  const prev = plan.read.state;
  // Metadata such as `expose` changes no kernel object but must reach ps and inspect.
  // A state this build did not stamp (another version's, edited) is written again, so the next run trusts it.
  if (ops.length > 0 || !prev || !plan.read.trusted || adopted || !sameStamps(prev.stamps, state.stamps) || !plan.sameWant) await writeState(state).catch(noted('nothing was changed'));
  await recordHostSysctls(ops, seen.state.sysctls);
  const dns = resolverConfig(lab);
  await releaseNamespaces(lab.name, host, new Set(ops.flatMap((o) => (o.kind === 'netns.del' ? [o.ns] : []))));
  const early = ops.length > 0 ? startResolverEarly(lab.name, host, dns) : undefined;
  // The proxy needs no namespace (it connects per client): it starts while the apply runs.
  const proxyRun = syncProxy(lab, host, plan.ctx.ipv6);
  proxyRun.catch(() => undefined);
  if (ops.length > 0) await applyRecorded(plan, state, opts, backend);
  // Started, reloaded or left alone; a namespace made anew needs its sockets opened again.
  const dnsStarted = performance.now();
  const resolver = await ensureResolver(
    lab.name,
    host,
    dns,
    ops.some((o) => o.kind === 'netns.add'),
    early,
  );
  if (resolver.action !== 'none') log().debug({ action: resolver.action, ms: Math.round(performance.now() - dnsStarted) }, 'DNS resolver');
  return { state, resolver, proxy: await proxyRun };
}

/** The state to write before applying: this run's lab, with the old and new names both the lab's until it completes. */
async function stateBefore(plan: UpPlan): Promise<{ state: StateFile; adopted: boolean }> {
  const prev = plan.read.state;
  const { started, adopted } = startedProcesses(plan.want, plan.seen, prev?.started ?? {});
  const state: StateFile = {
    version: 1,
    lab: plan.lab.name,
    host: plan.host,
    source: plan.source,
    allocation: allocationOf(plan.lab),
    planned: { netns: union(plan.planned.netns, prev?.planned.netns), links: union(plan.planned.links, prev?.planned.links) },
    started,
    resolved: plan.lab,
    hostNetns: await hostNetnsId(),
    stamps: keptStamps(plan.seen.stamps, plan.want.files),
    hostsIpv6: plan.ctx.ipv6,
    renderer: RENDERER,
    updatedAt: '',
  };
  return { state, adopted };
}

/**
 * The commands the lab still wants, as the last state recorded them, and those running with this
 * lab's spec that the state has no record of (a run killed right after starting it, a replayed
 * explain script; the observer found it by its spec mark): recorded now, so ps and down know its pid.
 */
function startedProcesses(want: LabState, seen: Observation, before: StateFile['started']): { started: StateFile['started']; adopted: boolean } {
  const started = Object.fromEntries(Object.entries(before).filter(([name]) => want.processes[name]));
  let adopted = false;
  for (const [name, p] of Object.entries(seen.state.processes)) {
    const w = want.processes[name];
    if (!w || !p.running || p.pid === undefined || p.specHash !== w.specHash || started[name]?.pid === p.pid) continue;
    started[name] = { pid: p.pid, specHash: w.specHash! };
    adopted = true;
  }
  return { started, adopted };
}

/** Applies the Ops, recording each command started and each file written; interrupted, the state says how far it got. */
async function applyRecorded(plan: UpPlan, state: StateFile, opts: UpOptions, backend: KernelBackend): Promise<void> {
  const { lab, host, ops, want } = plan;
  opts.onPlan?.(ops, lab.name);
  // Loaded only for a change: a converged `up` (and a dry run) never pays for the executors.
  const { applyOps, ApplyInterrupted } = await import('../kernel/apply.js');
  const written: Stamps = {};
  try {
    await applyOps(
      ops,
      { onStep: opts.onStep, signal: opts.signal, onStarted: (c, pid, specHash) => (state.started[c] = { pid, specHash }), onFilesWritten: (s) => Object.assign(written, s) },
      backend,
    );
  } catch (e) {
    if (!(e instanceof ApplyInterrupted)) throw e;
    state.stamps = restamp(state.stamps ?? {}, want.files, written);
    await writeState(state);
    throw new InterruptedError(`${e.message}: lab ${lab.name} is partly up (what was made is recorded in ${stateFile(lab.name, host)}). Run "netlab up" to finish it, or "netlab down" to remove it.`);
  }
  state.planned = plan.planned;
  state.stamps = restamp(state.stamps ?? {}, want.files, written);
  await writeState(state).catch(noted(`lab ${lab.name} is up, with the state of the run before; the next "netlab up" records it`));
}

/** The published host ports of this share that something else holds (a program named by its pid, another lab), as errors at their YAML place. */
async function busyPorts(topo: Topology, host: string | undefined, used: Map<string, string>, previous: Set<string>): Promise<string[]> {
  const out: string[] = [];
  for (const c of topo.containers.filter((x) => x.host === host)) {
    for (const [i, b] of c.publish.entries()) {
      // A range's first busy port is the one reported.
      const port = hostPortsOf(b)
        .map((p) => `${p}/${b.proto}`)
        .find((p) => used.has(p) && !previous.has(p));
      if (!port) continue;
      const who = used.get(port) === 'a listening socket' ? await portHolder(port) : used.get(port);
      out.push(placeIn(topo, publishPath(c, i), `host port ${port} is already in use on this host (${who})`));
    }
  }
  return out;
}

/** A state that cannot be written, with what that means for the lab. */
const noted = (note: string) => (e: unknown) => {
  throw e instanceof NetlabError ? new NetlabError(`${e.message}; ${note}`) : e;
};

/** Remembers the value a host-wide sysctl had before the first lab changed it, for the last `down` to restore. */
async function recordHostSysctls(ops: Op[], current: Record<string, string>): Promise<void> {
  const keys = ops.flatMap((o) => (o.kind === 'sysctl.set' && isHostWideSysctl(o.key) && current[o.key] !== undefined ? [o.key] : []));
  if (keys.length === 0) return;
  const record = await readHostRecord();
  let changed = false;
  for (const k of keys) {
    if (k in record.sysctls) continue;
    record.sysctls[k] = current[k]!;
    changed = true;
  }
  if (changed) await writeHostRecord(record);
}

/** The first `n` lines, and how many more there are (a lab of 1000 containers on another's ports is one message, not 1000 lines). */
function firstLines(lines: string[], n: number): string {
  return lines.length <= n ? lines.join('\n') : [...lines.slice(0, n), `... and ${lines.length - n} more`].join('\n');
}

function union(a: string[], b: string[] | undefined): string[] {
  return [...new Set([...a, ...(b ?? [])])];
}

/** Stamps of the files the lab wants only (a file that goes takes its stamp with it). */
function keptStamps(seen: Stamps, wanted: Record<string, string>): Stamps {
  return Object.fromEntries(Object.entries(seen).filter(([path]) => path in wanted));
}

/**
 * After a run: the files it wrote get the stamps they were written with; a file it did not get
 * to (interrupted) keeps the stamp of what it still holds; a file the lab no longer wants, none.
 */
function restamp(stamps: Stamps, wanted: Record<string, string>, written: Stamps): Stamps {
  return keptStamps({ ...stamps, ...written }, wanted);
}

function sameStamps(a: Stamps | undefined, b: Stamps | undefined): boolean {
  const ka = Object.keys(a ?? {});
  if (ka.length !== Object.keys(b ?? {}).length) return false;
  return ka.every((k) => a![k] === b![k]);
}

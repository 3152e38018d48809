/** `up`: make the kernel match the topology, changing only what differs. */
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { formatIp } from '../model/ipv4.js';
import { ConflictError, InputError, InterruptedError, NetlabError } from '../errors.js';
import { loadTopologyCached } from '../topology/cache.js';
import type { LoadOptions } from '../topology/source.js';
import type { Topology } from '../topology/types.js';
import { allocationOf, placeIn, publishPath, resolveLab, SubnetTakenError, type Lab } from '../model/lab.js';
import { hostPortsOf } from '../model/ports.js';
import { PoolExhaustedError } from '../model/ipam.js';
import { desiredState } from '../plan/desired.js';
import { diff } from '../plan/diff.js';
import type { Op } from '../plan/ops.js';
import { observe, readFirewalls } from '../kernel/observe.js';
import { applyOps, ApplyInterrupted } from '../kernel/apply.js';
import { selectBackend, type BackendName } from '../kernel/backend.js';
import { hostNetnsId } from '../kernel/host.js';
import { isHostWideSysctl, readHostRecord, writeHostRecord } from './hostrecord.js';
import { stateFile } from '../paths.js';
import { gatherContext, readHostView } from './context.js';
import { withHostLock } from './lock.js';
import { labJson, loadState, RENDERER, warnBroken, writeState, type StateFile } from './state.js';
import { labSource, requireSameSource } from './labsource.js';
import { requireRoot } from './root.js';
import { hostPathProblems } from '../topology/runtime.js';
import { log } from '../log.js';
import type { Stamps } from '../kernel/stamps.js';
import { resolverConfig } from '../dns/records.js';
import { ensureResolver, releaseNamespaces, startResolverEarly, type EnsureResult } from '../dns/lifecycle.js';
import { syncProxy } from '../proxy/sync.js';
import type { ProxyResult } from '../proxy/lifecycle.js';
import { portHolder } from './portholder.js';
import { hasImpairment, readOverrides, requireNetem, withOverrides } from './impair.js';

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

/**
 * How a container command that starts with `netlab` runs this netlab: the same node and the
 * built CLI (`<package>/dist/cli/main.js`, reached the same way from dist/ and from src/).
 */
export const SELF_ARGV = [process.execPath, fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))];

export async function up(opts: UpOptions = {}): Promise<UpResult> {
  const topo = opts.topology ?? (await loadTopologyCached(opts));
  const backend = selectBackend(opts.backend);
  // Read where it runs (a cached parse may be older than the host), before any change.
  const missing = hostPathProblems(topo.containers.filter((c) => !opts.host || c.host === opts.host));
  if (missing.length > 0) throw new InputError(missing, topo.source);
  requireRoot('up');
  return withHostLock('bring the lab up', async () => {
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

    const previousPorts = new Set(prev?.resolved.containers.flatMap((c) => c.ports.flatMap((p) => hostPortsOf(p).map((port) => `${port}/${p.proto}`))) ?? []);
    const busy = await busyPorts(topo, host, ctx.usedHostPorts, previousPorts);
    if (busy.length > 0) throw new ConflictError(firstLines(busy, 5));

    let lab: Lab;
    try {
      lab = withOverrides(resolveLab(topo, ctx, host), readOverrides(topo.name));
    } catch (e) {
      if (e instanceof PoolExhaustedError) throw new InputError([{ path: 'networks', message: e.message }], topo.source);
      if (e instanceof SubnetTakenError) throw new ConflictError(e.message);
      throw e;
    }
    await requireNetem(lab, topo.source);
    mark('resolved');
    const want = desiredState(lab, { selfArgv: SELF_ARGV, ovsDatapath: ovsDatapath(), ipv6: ctx.ipv6 });
    mark('desired');
    const planned = { netns: Object.keys(want.namespaces), links: Object.keys(want.hostLinks) };
    // The same lab (same resolved JSON, same build of the file renderers) wants the same files.
    const labText = labJson(lab);
    const sameWant = !!prev && prev.hostsIpv6 === ctx.ipv6 && prev.renderer === RENDERER && labJson(prev.resolved) === labText;
    const seen = await observe(
      {
        lab: lab.name,
        host,
        want,
        planned: prev?.planned ?? { netns: [], links: [] },
        started: prev?.started ?? {},
        known: !!prev,
        stamps: prev?.stamps,
        sameWant,
        firewallReads,
        hostLinks: hostView.inProcess && backend.hostInProcess ? hostView.links : undefined,
        // A lab that had impairments reads its qdiscs, to remove those the file no longer has.
        qdiscs: hasImpairment(lab) || (!!prev && hasImpairment(prev.resolved)),
      },
      backend,
    );
    if (seen.foreign.length > 0) throw new ConflictError(foreignMessage(lab.name, seen.foreign));
    for (const w of seen.warnings) log().warn(w);
    mark('observed');
    const ops = diff(want, seen.state);
    mark('diffed');
    log().debug({ ops: ops.length, ...lap }, 'up (ms since start)');
    if (opts.dryRun) return { lab, ops, ms: performance.now() - started };

    const startedProcs = Object.fromEntries(Object.entries(prev?.started ?? {}).filter(([name]) => want.processes[name]));
    // A command running with this lab's spec that the state has no record of (a run killed right
    // after starting it, a replayed explain script; the observer found it by its spec mark):
    // recorded now, so ps and down know its pid.
    let adopted = false;
    for (const [name, p] of Object.entries(seen.state.processes)) {
      const w = want.processes[name];
      if (!w || !p.running || p.pid === undefined || p.specHash !== w.specHash || startedProcs[name]?.pid === p.pid) continue;
      startedProcs[name] = { pid: p.pid, specHash: w.specHash! };
      adopted = true;
    }
    const state: StateFile = {
      version: 1,
      lab: lab.name,
      host,
      source,
      allocation: allocationOf(lab),
      // Until this run completes, both the old and the new names are the lab's.
      planned: { netns: union(planned.netns, prev?.planned.netns), links: union(planned.links, prev?.planned.links) },
      started: startedProcs,
      resolved: lab,
      hostNetns: await hostNetnsId(),
      stamps: keptStamps(seen.stamps, want.files),
      hostsIpv6: ctx.ipv6,
      renderer: RENDERER,
      updatedAt: '',
    };
    // Metadata such as `expose` changes no kernel object but must reach ps and inspect.
    // A state this build did not stamp (another version's, edited) is written again, so the next run trusts it.
    if (ops.length > 0 || !prev || !read.trusted || adopted || !sameStamps(prev.stamps, state.stamps) || !sameWant) await writeState(state).catch(noted('nothing was changed'));
    await recordHostSysctls(ops, seen.state.sysctls);
    const dns = resolverConfig(lab);
    await releaseNamespaces(lab.name, host, new Set(ops.flatMap((o) => (o.kind === 'netns.del' ? [o.ns] : []))));
    const early = ops.length > 0 ? startResolverEarly(lab.name, host, dns) : undefined;
    // The proxy needs no namespace (it connects per client): it starts while the apply runs.
    const proxyRun = syncProxy(lab, host, ctx.ipv6);
    proxyRun.catch(() => undefined);
    if (ops.length > 0) {
      opts.onPlan?.(ops, lab.name);
      const written: Stamps = {};
      try {
        await applyOps(
          ops,
          { onStep: opts.onStep, signal: opts.signal, onStarted: (c, pid, specHash) => (startedProcs[c] = { pid, specHash }), onFilesWritten: (s) => Object.assign(written, s) },
          backend,
        );
      } catch (e) {
        if (!(e instanceof ApplyInterrupted)) throw e;
        state.stamps = restamp(state.stamps ?? {}, want.files, written);
        await writeState(state);
        throw new InterruptedError(
          `${e.message}: lab ${lab.name} is partly up (what was made is recorded in ${stateFile(lab.name, host)}). Run "netlab up" to finish it, or "netlab down" to remove it.`,
        );
      }
      state.planned = planned;
      state.stamps = restamp(state.stamps ?? {}, want.files, written);
      await writeState(state).catch(noted(`lab ${lab.name} is up, with the state of the run before; the next "netlab up" records it`));
    }
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
    const proxy = await proxyRun;
    return { lab, ops, ms: performance.now() - started, state, resolver, proxy };
  });
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

/** Why `up` refuses: objects with the lab's names that it did not make (status reports the same). */
export function foreignMessage(lab: string, foreign: string[]): string {
  return `these objects carry names lab "${lab}" needs but were not made by it; netlab leaves them alone:\n  ${foreign.join('\n  ')}`;
}

/**
 * Which host's share of a multi-host lab this machine builds: the one named, or the one whose
 * underlay address is on one of this machine's interfaces. Undefined for a single-host lab.
 */
export async function shareHost(topo: Topology, named: string | undefined): Promise<string | undefined> {
  if (topo.hosts.length === 0) {
    if (named !== undefined) throw new InputError([{ path: '--host', message: `lab "${topo.name}" has no "hosts:"; --host is for multi-host labs` }], topo.source);
    return undefined;
  }
  if (named !== undefined) {
    if (!topo.hosts.some((h) => h.name === named)) throw new InputError([{ path: '--host', message: `unknown host "${named}" (hosts: ${topo.hosts.map((h) => h.name).join(', ')})` }], topo.source);
    return named;
  }
  const mine = new Set(Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address)));
  const found = topo.hosts.find((h) => mine.has(formatIp(h.underlay)));
  if (!found) {
    throw new InputError(
      [
        {
          path: 'hosts',
          message: `this machine has none of the hosts' underlay addresses (${topo.hosts.map((h) => `${h.name} ${formatIp(h.underlay)}`).join(', ')}): name its host with --host, or run every host here with --simulate`,
        },
      ],
      topo.source,
    );
  }
  return found.name;
}

/** Userspace datapath unless the Open vSwitch kernel module is loaded (or NETLAB_OVS_DATAPATH says). */
export function ovsDatapath(): 'system' | 'netdev' {
  const forced = process.env.NETLAB_OVS_DATAPATH;
  if (forced === 'system' || forced === 'netdev') return forced;
  return existsSync('/sys/module/openvswitch') ? 'system' : 'netdev';
}

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

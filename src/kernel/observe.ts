/**
 * Reads what of a lab exists in the kernel, recognised by netlab's marks alone (link aliases, or
 * the lab's device group on a link whose alias a killed run did not set; the alias of `lo` in a
 * namespace; rule comments; process environments), and reports objects that carry a wanted name
 * but are not the lab's, and symbolic links where netlab keeps its own files: those are never touched.
 */
import { basename, dirname, join } from 'node:path';
import { log } from '../log.js';
import { linkGroup, netnsName, parseMark, netnsPrefix } from '../model/names.js';
import { ctrDir, ETC_NETNS_DIR, NETNS_DIR, RUN_DIR, labDir, shareDir, timesPath } from '../paths.js';
import { notOwn } from './ownfs.js';
import { emptyState, type FirewallState, type HostLinkState, type IfaceState, type LabState, type NamespaceState } from '../plan/state.js';
import { lstatSync, readdirSync, type Dirent } from 'node:fs';
import { listDir, listEntries, readSysctl } from './host.js';
import { readStamped, type Stamps } from './stamps.js';
import { iptablesSaveAll, labsInIptables, moveIsolation, observeIptables } from './iptables.js';
import { observeNftables } from './nftables.js';
import { pidsByNamespace, specMark } from './processes.js';
import type { KernelBackend } from './backend.js';
import type { IpLink } from './linkview.js';
import { mountedUts, mountPoints } from './uts.js';
import { mountedMnt, readMntHash } from './mnt.js';
import { monitorPid, readMonitorState } from './monitor.js';
import { observeOvs } from './ovs.js';
import { mapLimit, run } from './run.js';
import { readImpairments } from './tc.js';

export interface ObserveInput {
  lab: string;
  /** The host whose share this is, in a multi-host lab: other hosts' containers are not its own. */
  host?: string;
  /**
   * `share` (default): a host's share of a lab. `underlay`: the simulated machines of `--simulate`
   * (their namespaces and the links joining them), nothing else.
   */
  scope?: 'share' | 'underlay';
  /** Everything the lab wants, so objects with those names are looked at even without a mark. */
  want: LabState;
  /** Names the last `up` was about to create (state file): ours even when a crash came before the mark. */
  planned: { netns: string[]; links: string[] };
  /** Recorded spec hash and pid of each container's process (state file). */
  started: Record<string, { pid: number; specHash: string }>;
  /** The lab's state file exists here: the lab is known to be up (its flushed chains are still its own). */
  known?: boolean;
  /** Stamps of the /etc files from the last run (state file): a file whose stamp holds is not read again. */
  stamps?: Stamps;
  /** The lab is the one the stamps were taken for: what it wants of each file is what it wanted then. */
  sameWant?: boolean;
  /** The firewall reads, when the caller started them early (readFirewalls). */
  firewallReads?: FirewallReads;
  /** The host's links as `backend.readHost()` gives them, when the caller has just read them (one read, not two). */
  hostLinks?: IpLink[];
  /** Read the tc qdiscs of the lab's namespaces (default: when `want` impairs an interface). */
  qdiscs?: boolean;
}

export type FirewallReads = Promise<[Awaited<ReturnType<typeof observeIptables>>, FirewallState]>;

/**
 * Starts reading both firewalls (a lab that switched `firewall:` still has rules in the other).
 * A caller may start it long before observe() needs it; a failure is reported there, not before.
 */
export function readFirewalls(lab: string, known: boolean): FirewallReads {
  const p = Promise.all([observeIptables(lab, known), observeNftables(lab)]);
  p.catch(() => undefined);
  return p;
}

export interface Observation {
  state: LabState;
  /** Objects that carry a name the lab wants but are not the lab's. */
  foreign: string[];
  /** What on the host will get in the lab's way, though netlab may not change it. */
  warnings: string[];
  /** Stamps of the /etc files as they are now. */
  stamps: Stamps;
  /** Labs with objects in this network namespace, this one included, as labsOnHost() finds them (not for `underlay`). */
  labsHere?: Set<string>;
}

/** A VXLAN device's identity, from `ip -d` (the netlink backend's dump leaves it out). */
async function vxlanInfo(dev: string): Promise<{ id?: number; port?: number; local?: string }> {
  const r = await run('ip', ['-j', '-d', 'link', 'show', 'dev', dev], { allowFail: true });
  return r.exitCode === 0 ? ((JSON.parse(r.stdout) as IpLink[])[0]?.linkinfo?.info_data ?? {}) : {};
}

/** Remote VTEPs a VXLAN device floods to: its all-zero FDB entries. */
async function floodEntries(dev: string): Promise<string[]> {
  const r = await run('bridge', ['-j', 'fdb', 'show', 'dev', dev], { allowFail: true });
  const entries = r.exitCode === 0 ? (JSON.parse(r.stdout || '[]') as { mac: string; dst?: string }[]) : [];
  return entries.filter((e) => e.mac === '00:00:00:00:00:00' && e.dst).map((e) => e.dst!);
}

/** A link's addresses of both families, bar the IPv6 link-local ones the kernel makes itself. */
const addrsOf = (l: IpLink) => (l.addr_info ?? []).filter((a) => a.family === 'inet' || (a.family === 'inet6' && a.scope === 'global')).map((a) => `${a.local}/${a.prefixlen}`);

/** Reads the lab with `backend`: one dump of the host's links, one of each namespace of the lab, the firewall, files, processes. */
export async function observe(input: ObserveInput, backend: KernelBackend): Promise<Observation> {
  const { lab, want } = input;
  const plannedLinks = new Set(input.planned.links);
  const plannedNetns = new Set(input.planned.netns);
  const t0 = performance.now();
  const lap: Record<string, number> = {};
  const mark = (what: string) => (lap[what] = Math.round(performance.now() - t0));
  const s = emptyState(lab);
  const foreign: string[] = [];
  const ours = (alias: string | undefined) => parseMark(alias)?.lab === lab;

  const underlay = input.scope === 'underlay';
  // The firewall is read by programs (iptables-save, nft): started first (or already, by the
  // caller), they run while this process reads links and namespaces itself.
  const fw = underlay ? undefined : (input.firewallReads ?? readFirewalls(lab, !!input.known));
  const [hostJson, nsNames] = await Promise.all([input.hostLinks ?? backend.readHost(), listDir(NETNS_DIR)]);

  mark('host');
  const byName = new Map(hostJson.map((l) => [l.ifname, l]));
  // Which marked links belong to this scope: a share's bridges, veths and VXLAN devices, or the simulated machines' underlay.
  const roles = underlay ? ['underlay', 'uplink'] : ['bridge', 'veth', 'vxlan'];
  const inScope = (alias: string | undefined) => ours(alias) && roles.includes(parseMark(alias)!.role);
  const group = linkGroup(lab);
  // A link made by this lab in a run killed before it set the alias: no alias, the lab's group
  // (the simulated underlay's links only by the names it wants or planned, not a share's).
  const unaliased = (l: IpLink) => !l.ifalias && Number(l.group) === group && (!underlay || !!want.hostLinks[l.ifname] || plannedLinks.has(l.ifname));
  for (const l of hostJson) {
    const wanted = want.hostLinks[l.ifname];
    if (!inScope(l.ifalias) && !unaliased(l)) {
      // Named also for `down` (which wants nothing) when the last `up` made a link of that name.
      if (wanted || plannedLinks.has(l.ifname)) foreign.push(`link ${l.ifname} (${l.ifalias ? `alias "${l.ifalias}"` : 'no netlab mark'})`);
      continue;
    }
    const k = l.linkinfo?.info_kind;
    const kind = k === 'bridge' || k === 'veth' || k === 'vxlan' ? k : 'other';
    const h: HostLinkState = { kind, alias: l.ifalias, mtu: l.mtu, up: l.flags.includes('UP'), master: l.master, mac: l.address, addrs: addrsOf(l) };
    if (l.linkinfo?.info_slave_kind === 'bridge') h.hairpin = !!l.linkinfo.info_slave_data?.hairpin;
    if (kind === 'vxlan') {
      const d = l.linkinfo?.info_data ?? (await vxlanInfo(l.ifname));
      h.vxlan = { vni: d.id ?? 0, port: d.port ?? 0, local: d.local ?? '' };
      h.fdb = await floodEntries(l.ifname);
    }
    if (kind === 'veth' && l.link_netnsid !== undefined && wanted?.peer) h.peer = { ns: wanted.peer.ns, name: wanted.peer.name };
    s.hostLinks[l.ifname] = h;
  }

  const candidates = nsNames.filter((n) => n.startsWith(netnsPrefix(lab)) || want.namespaces[n]);
  // A namespace the lab does not want goes whole: only its mark (the alias of lo) is read.
  const whole = (ns: string) => want.namespaces[ns] !== undefined;
  const views = await backend.readNamespaces(candidates, whole);
  const unread = candidates.filter((ns) => !views.has(ns));
  if (unread.length > 0) {
    const { unbound, alien } = unboundNetnsFiles(unread, (ns) => want.namespaces[ns] !== undefined || ns.startsWith(netnsPrefix(lab)));
    if (unbound.length > 0) s.unboundNetns = unbound;
    foreign.push(...alien.filter((ns) => want.namespaces[ns]).map((ns) => `${join(NETNS_DIR, ns)} (not a namespace netlab made: a symbolic link, or a file that is not empty)`));
  }
  for (const [ns, { links, routes }] of views) {
    const lo = links.find((l) => l.ifname === 'lo');
    const m = parseMark(lo?.ifalias);
    // Ours: a container namespace of this lab on this host, by its mark alone (netlab marks a
    // namespace before binding it to its name, so an unmarked one was made by someone else).
    const role = underlay ? 'host' : 'ctr';
    const owned = m !== undefined && m.lab === lab && m.role === role && m.names[1] === input.host;
    if (!owned) {
      if (want.namespaces[ns] || plannedNetns.has(ns)) foreign.push(`network namespace ${ns} (${lo?.ifalias ? `mark "${lo.ifalias}"` : 'no netlab mark'})`);
      continue;
    }
    // A namespace of this lab whose mark names another container would be a bug or tampering.
    if (want.namespaces[ns] && lo?.ifalias !== want.namespaces[ns]!.mark) {
      foreign.push(`network namespace ${ns} (mark "${lo?.ifalias}")`);
      continue;
    }
    const ifaces: Record<string, IfaceState> = {};
    for (const l of whole(ns) ? links : []) {
      if (l.ifname === 'lo') continue;
      const iface: IfaceState = { mac: l.address ?? '', mtu: l.mtu, up: l.flags.includes('UP'), addrs: addrsOf(l) };
      if (l.ipv6_disabled !== undefined) iface.ipv6Disabled = l.ipv6_disabled;
      ifaces[l.ifname] = iface;
    }
    const state: NamespaceState = {
      mark: lo?.ifalias,
      loUp: !!lo?.flags.includes('UP'),
      ifaces,
      routes: whole(ns) ? routes.filter((rt) => rt.protocol !== 'kernel').map((rt) => `${rt.dst}${rt.gateway ? ` via ${rt.gateway}` : ''} dev ${rt.dev}`) : [],
    };
    s.namespaces[ns] = state;
  }

  if (!underlay && (input.qdiscs ?? wantsImpairment(want))) await readQdiscs(s, want);
  mark('namespaces');
  if (underlay) return { state: s, foreign, warnings: [], stamps: {} };
  const [iptables, nftables] = await fw!;
  foreign.unshift(...iptables.foreign);

  for (const key of Object.keys(want.sysctls)) {
    const v = await readSysctl(key);
    if (v !== undefined) s.sysctls[key] = v;
  }

  // /etc files of the lab's own namespaces, and of the namespaces it wants or last planned that
  // are gone (the folder of a namespace that exists but is not the lab's is never touched).
  const named = new Set(nsNames);
  const dirs: string[] = [];
  for (const e of await listEntries(ETC_NETNS_DIR)) {
    if (!s.namespaces[e.name] && (named.has(e.name) || !(want.namespaces[e.name] || plannedNetns.has(e.name)))) continue;
    if (e.isDirectory()) dirs.push(e.name);
    else foreign.push(`${join(ETC_NETNS_DIR, e.name)} (${e.isSymbolicLink() ? 'a symbolic link' : 'not a folder'} where netlab keeps its own folder)`);
  }
  if (dirs.length > 0) s.etcDirs = dirs.map((dir) => join(ETC_NETNS_DIR, dir));
  // Each file is stat'ed, and read only when its stamp moved since the last run (stamps.ts).
  const stamps: Stamps = {};
  const prevStamps = input.stamps ?? {};
  for (const dir of dirs) {
    let entries: Dirent[];
    try {
      entries = readdirSync(join(ETC_NETNS_DIR, dir), { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const path = join(ETC_NETNS_DIR, dir, e.name);
      if (e.isSymbolicLink()) {
        foreign.push(`${path} (a symbolic link where netlab keeps its own file)`);
        continue;
      }
      // A regular file the lab does not want goes whatever it holds: the folder's entry tells enough.
      if (want.files[path] === undefined && e.isFile()) {
        s.files[path] = '';
        continue;
      }
      const r = readStamped(path, want.files[path], prevStamps[path], !!input.sameWant);
      if (r.text !== undefined) s.files[path] = r.text;
      if (r.stamp !== undefined) stamps[path] = r.stamp;
    }
  }

  mark('files');
  // UTS namespaces of this share's containers only: other hosts of a simulated lab keep theirs in the same folder.
  const mine = new Set([...Object.keys(s.namespaces), ...Object.keys(want.namespaces), ...input.planned.netns].map((ns) => ns.slice(netnsPrefix(lab).length)));
  for (const path of mountedUts(join(labDir(lab), 'uts'))) {
    if (input.host !== undefined && !mine.has(basename(path))) continue;
    // One the lab does not want goes whatever its hostname.
    if (want.uts[path] === undefined) {
      s.uts[path] = '';
      continue;
    }
    const h = await backend.readUts(path);
    if (h !== undefined) s.uts[path] = h;
  }

  mark('uts');
  for (const path of mountedMnt(join(labDir(lab), 'mnt'))) {
    if (input.host !== undefined && !mine.has(basename(path))) continue;
    s.mnts[path] = { ns: '', hash: want.mnts[path] ? await readMntHash(path) : '' };
  }
  const { inside: pids, strays, nested } = await pidsByNamespace(Object.keys(s.namespaces), underlay ? undefined : { lab, host: input.host });
  const containerOf = (ns: string) => ns.slice(netnsPrefix(lab).length);
  for (const [ns, list] of pids) {
    const name = containerOf(ns);
    const w = want.processes[name];
    const rec = input.started[name];
    const dir = ctrDir(lab, name);
    const monitor = monitorPid(dir);
    if (list.length === 0 && !w && !monitor) continue;
    // A command is the lab's while its monitor runs it (or waits to restart it): the monitor is
    // found by its pid file and /proc, and carries the spec hash it was started with. A command
    // without one (its monitor killed, a netlab from before monitors) is started anew under a new one.
    const state = monitor ? readMonitorState(dir) : undefined;
    const running = monitor !== undefined && state?.Status !== 'exited';
    const specHash = (monitor ? specMark(monitor) : undefined) ?? rec?.specHash;
    s.processes[name] = { running, pids: list, pid: monitor, monitor, specHash, ns, uts: w?.uts ?? '', mnt: w?.mnt ?? '', dir: w?.dir ?? '', log: w?.log ?? '' };
  }
  for (const [name, list] of strays) (s.processes[name] ??= { running: false, pids: [], ns: netnsName(lab, name), uts: '', mnt: '', dir: '', log: '' }).strays = list;
  for (const [name, list] of nested) if (s.processes[name]) s.processes[name].nested = list;

  foreign.push(...notOwnPaths(input, s));

  // Open vSwitch, when the lab wants it or an OVS answers here (its bridges may outlive a changed file).
  const ovs = await observeOvs(lab, (port) => ({ master: byName.get(port)?.master, mtu: byName.get(port)?.mtu }), want.ovs);
  if (ovs && (Object.keys(ovs.bridges).length > 0 || want.ovs)) s.ovs = ovs.bridges;
  foreign.push(...(ovs?.foreign ?? []));

  // Both backends are read: a lab that switched `firewall:` still has rules in the other one.
  const hasAny = (f: FirewallState) => Object.values(f.tables).some((t) => t.chains.length + t.jumps.length + t.rules.length > 0);
  const { foreign: _alien, labs: iptLabs, ...ipt } = iptables!;
  const labsHere = new Set([...labsOfLinks(hostJson), ...iptLabs]);
  const [primary, other] = want.firewall?.backend === 'nftables' ? nftablesFirst(ipt, nftables!) : !want.firewall && !hasAny(ipt) && hasAny(nftables!) ? [nftables!, ipt] : [ipt, nftables!];
  if (hasAny(primary) || want.firewall) s.firewall = primary;
  if (hasAny(other)) s.otherFirewall = other;
  const warnings: string[] = [];
  const ipv6 = want.firewall?.tables['ip6 filter'] !== undefined;
  if (want.firewall?.backend === 'nftables' && (iptables!.forwardDrop || (ipv6 && iptables!.forwardDrop6)) && Object.keys(want.hostLinks).length > 0) {
    warnings.push(
      `${iptables!.forwardDrop ? "iptables'" : "ip6tables'"} FORWARD policy is DROP (Docker sets it): it drops the lab's forwarded traffic whatever the nftables table accepts; netlab never changes a policy, so use "firewall: iptables" on this host, or accept the lab's bridges in DOCKER-USER yourself`,
    );
  }
  mark('processes');
  log().debug({ backend: backend.name, namespaces: candidates.length, ...lap }, 'observed (ms since start)');
  return { state: s, foreign, warnings, stamps, labsHere };
}

const wantsImpairment = (want: LabState) => Object.values(want.namespaces).some((n) => Object.values(n.ifaces).some((i) => i.impair !== undefined));

/** The impairment (tc qdiscs) of each interface of the lab's namespaces that it wants. */
async function readQdiscs(s: LabState, want: LabState): Promise<void> {
  const wanted = Object.keys(s.namespaces).filter((ns) => want.namespaces[ns]);
  await mapLimit(wanted, 8, async (ns) => {
    const found = await readImpairments(ns);
    for (const [dev, iface] of Object.entries(s.namespaces[ns]!.ifaces)) if (found) iface.impair = found.get(dev) ?? {};
  });
}

/** An nftables lab's firewall, with its rules in the iptables isolation chains (model/firewall.ts), and what else it has in iptables. */
function nftablesFirst(ipt: FirewallState, nft: FirewallState): [FirewallState, FirewallState] {
  const [rest, withIsolation] = moveIsolation(ipt, nft);
  return [withIsolation, rest];
}

/**
 * netlab's own folders of the lab, and the files it is about to make in them (UTS namespace
 * files, logs of commands to start), that are something else: a symbolic link above all. Looked
 * at before any change; files only for what is not there yet (none in a converged lab).
 */
function notOwnPaths(input: ObserveInput, s: LabState): string[] {
  const dir = labDir(input.lab);
  const folders = [RUN_DIR, dir, join(dir, 'uts'), join(dir, 'logs'), ...(input.host === undefined ? [] : [join(dir, 'hosts'), shareDir(input.lab, input.host)])];
  const files = [
    ...Object.keys(input.want.uts).filter((path) => s.uts[path] === undefined),
    ...Object.entries(input.want.processes).flatMap(([name, w]) => (s.processes[name]?.running && s.processes[name].specHash === w.specHash ? [] : [w.log, timesPath(w.log)])),
  ];
  return [...folders.map((f) => notOwn(f, 'folder')), ...files.map((f) => notOwn(f, 'file'))].filter((p): p is string => p !== undefined);
}

/**
 * Of names in /run/netns that could not be read as namespaces: the empty regular files that no
 * namespace is bound on (an interrupted `ip netns add`: netlab's own leftover when `ours` says
 * the name is the lab's), and the rest (a symbolic link, a file with content), never touched.
 */
export function unboundNetnsFiles(names: string[], ours: (ns: string) => boolean): { unbound: string[]; alien: string[] } {
  const bound = new Set(mountPoints().filter((p) => dirname(p) === NETNS_DIR));
  const unbound: string[] = [];
  const alien: string[] = [];
  for (const ns of names) {
    const path = join(NETNS_DIR, ns);
    if (bound.has(path)) continue; // a namespace that could not be read just now
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isFile() && st.size === 0 && ours(ns)) unbound.push(ns);
    else alien.push(ns);
  }
  return { unbound, alien };
}

const labsOfLinks = (links: IpLink[]) => links.flatMap((l) => parseMark(l.ifalias)?.lab ?? []);

/** Labs with objects in this network namespace: marked links, and rules with a lab's comment. */
export async function labsOnHost(): Promise<Set<string>> {
  const links = JSON.parse((await run('ip', ['-j', '-d', 'link', 'show'])).stdout) as IpLink[];
  const [saved, saved6] = await Promise.all([iptablesSaveAll(), iptablesSaveAll(6)]);
  return new Set([...labsOfLinks(links), ...labsInIptables(saved), ...labsInIptables(saved6)]);
}

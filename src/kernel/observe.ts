/**
 * Reads what of a lab exists in the kernel, recognised by netlab's marks alone (link aliases, or
 * the lab's device group on a link whose alias a killed run did not set; the alias of `lo` in a
 * namespace; rule comments; process environments), and reports objects that carry a wanted name
 * but are not the lab's, and symbolic links where netlab keeps its own files: those are never touched.
 */
import { dirname, join } from 'node:path';
import { lstatSync } from 'node:fs';
import { log } from '../log.js';
import { linkGroup, parseMark, netnsPrefix } from '../model/names.js';
import { NETNS_DIR, RUN_DIR, labDir, shareDir, timesPath } from '../paths.js';
import type { FirewallState, HostLinkState, IfaceState, LabState, NamespaceState } from '../plan/state.js';
import type { KernelBackend } from './backend.js';
import { listDir, readSysctl } from './host.js';
import { iptablesSaveAll, labsInIptables, moveIsolation, observeIptables } from './iptables.js';
import type { IpLink, NamespaceView } from './linkview.js';
import { observeNftables } from './nftables.js';
import { containersOfShare, readEtcFiles, readMntNamespaces, readProcesses, readUtsNamespaces } from './observe-containers.js';
import { startReading, type FirewallReads, type ObserveInput, type Reading } from './observe-input.js';
import { observeOvs } from './ovs.js';
import { notOwn } from './ownfs.js';
import { mapLimit, run } from './run.js';
import type { Stamps } from './stamps.js';
import { readImpairments } from './tc.js';
import { mountPoints } from './uts.js';

export type { FirewallReads, LastRun, ObserveHints, ObserveInput } from './observe-input.js';

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
  const r = startReading(input);
  const lap = stopwatch();
  // The firewall is read by programs (iptables-save, nft): started first (or already, by the
  // caller), they run while this process reads links and namespaces itself.
  const fw = r.underlay ? undefined : (input.hints?.firewallReads ?? readFirewalls(r.lab, input.last !== undefined));
  const [hostJson, nsNames] = await Promise.all([input.hints?.hostLinks ?? backend.readHost(), listDir(NETNS_DIR)]);
  lap('host');
  await readHostLinks(r, hostJson);
  const candidates = await readNetworkNamespaces(r, nsNames, backend);
  if (!r.underlay && (input.qdiscs ?? wantsImpairment(r.want))) await readQdiscs(r.s, r.want);
  lap('namespaces');
  if (r.underlay) return { state: r.s, foreign: r.foreign, warnings: [], stamps: {} };
  const [iptables, nftables] = await fw!;
  r.foreign.unshift(...iptables.foreign);
  await readSysctls(r);
  const stamps = await readEtcFiles(r, nsNames, input.hints ?? {});
  lap('files');
  const mine = containersOfShare(r);
  await readUtsNamespaces(r, mine, backend);
  lap('uts');
  await readMntNamespaces(r, mine);
  await readProcesses(r);
  r.foreign.push(...notOwnPaths(input, r.s));
  await readOvsBridges(r, hostJson);
  const { labsHere, warnings } = sortFirewalls(r, iptables, nftables, hostJson);
  lap('processes');
  log().debug({ backend: backend.name, namespaces: candidates, ...lap.laps }, 'observed (ms since start)');
  return { state: r.s, foreign: r.foreign, warnings, stamps, labsHere };
}

/** Milliseconds since it was made, noted at each lap by name (for the debug log). */
function stopwatch(): ((what: string) => void) & { laps: Record<string, number> } {
  const t0 = performance.now();
  const laps: Record<string, number> = {};
  return Object.assign((what: string) => void (laps[what] = Math.round(performance.now() - t0)), { laps });
}

/** The host's links of this scope: a share's bridges, veths and VXLAN devices, or the simulated machines' underlay. */
async function readHostLinks(r: Reading, hostJson: IpLink[]): Promise<void> {
  const { lab, want, underlay } = r;
  const roles = underlay ? ['underlay', 'uplink'] : ['bridge', 'veth', 'vxlan'];
  const inScope = (alias: string | undefined) => parseMark(alias)?.lab === lab && roles.includes(parseMark(alias)!.role);
  const group = linkGroup(lab);
  // A link made by this lab in a run killed before it set the alias: no alias, the lab's group
  // (the simulated underlay's links only by the names it wants or planned, not a share's).
  const unaliased = (l: IpLink) => !l.ifalias && Number(l.group) === group && (!underlay || !!want.hostLinks[l.ifname] || r.planned.links.has(l.ifname));
  for (const l of hostJson) {
    if (!inScope(l.ifalias) && !unaliased(l)) {
      // Named also for `down` (which wants nothing) when the last `up` made a link of that name.
      if (want.hostLinks[l.ifname] || r.planned.links.has(l.ifname)) r.foreign.push(`link ${l.ifname} (${l.ifalias ? `alias "${l.ifalias}"` : 'no netlab mark'})`);
      continue;
    }
    r.s.hostLinks[l.ifname] = await hostLinkState(l, want);
  }
}

/** One host link of the lab as found; a VXLAN device with its identity and flood list. */
async function hostLinkState(l: IpLink, want: LabState): Promise<HostLinkState> {
  const k = l.linkinfo?.info_kind;
  const kind = k === 'bridge' || k === 'veth' || k === 'vxlan' ? k : 'other';
  const h: HostLinkState = { kind, alias: l.ifalias, mtu: l.mtu, up: l.flags.includes('UP'), master: l.master, mac: l.address, addrs: addrsOf(l) };
  if (l.linkinfo?.info_slave_kind === 'bridge') h.hairpin = !!l.linkinfo.info_slave_data?.hairpin;
  if (kind === 'vxlan') {
    const d = l.linkinfo?.info_data ?? (await vxlanInfo(l.ifname));
    h.vxlan = { vni: d.id ?? 0, port: d.port ?? 0, local: d.local ?? '' };
    h.fdb = await floodEntries(l.ifname);
  }
  const wanted = want.hostLinks[l.ifname];
  if (kind === 'veth' && l.link_netnsid !== undefined && wanted?.peer) h.peer = { ns: wanted.peer.ns, name: wanted.peer.name };
  return h;
}

/**
 * The lab's network namespaces (those it does not want by their mark alone: they go whole),
 * netlab's unbound leftovers among their names, and those with its names that are not its own.
 * Returns how many names it looked at.
 */
async function readNetworkNamespaces(r: Reading, nsNames: string[], backend: KernelBackend): Promise<number> {
  const { lab, want } = r;
  const candidates = nsNames.filter((n) => n.startsWith(netnsPrefix(lab)) || want.namespaces[n]);
  const whole = (ns: string) => want.namespaces[ns] !== undefined;
  const views = await backend.readNamespaces(candidates, whole);
  const unread = candidates.filter((ns) => !views.has(ns));
  if (unread.length > 0) {
    const { unbound, alien } = unboundNetnsFiles(unread, (ns) => want.namespaces[ns] !== undefined || ns.startsWith(netnsPrefix(lab)));
    if (unbound.length > 0) r.s.unboundNetns = unbound;
    r.foreign.push(...alien.filter((ns) => want.namespaces[ns]).map((ns) => `${join(NETNS_DIR, ns)} (not a namespace netlab made: a symbolic link, or a file that is not empty)`));
  }
  for (const [ns, view] of views) {
    const lo = view.links.find((l) => l.ifname === 'lo');
    const refusal = notOwnNamespace(r, ns, lo?.ifalias);
    if (refusal === '') continue;
    if (refusal !== undefined) {
      r.foreign.push(refusal);
      continue;
    }
    r.s.namespaces[ns] = namespaceState(lo, whole(ns) ? view : { links: [], routes: [] });
  }
  return candidates.length;
}

/**
 * Why namespace `ns`, marked `alias`, is not this scope's: a line for the foreign list, '' for
 * one to pass over in silence, undefined when it is the lab's own.
 */
function notOwnNamespace(r: Reading, ns: string, alias: string | undefined): string | undefined {
  const m = parseMark(alias);
  // Ours: a container namespace of this lab on this host, by its mark alone (netlab marks a
  // namespace before binding it to its name, so an unmarked one was made by someone else).
  const role = r.underlay ? 'host' : 'ctr';
  const owned = m !== undefined && m.lab === r.lab && m.role === role && m.names[1] === r.host;
  if (!owned) return r.want.namespaces[ns] || r.planned.netns.has(ns) ? `network namespace ${ns} (${alias ? `mark "${alias}"` : 'no netlab mark'})` : '';
  // A namespace of this lab whose mark names another container would be a bug or tampering.
  if (r.want.namespaces[ns] && alias !== r.want.namespaces[ns]!.mark) return `network namespace ${ns} (mark "${alias}")`;
  return undefined;
}

/** A namespace of the lab as found: its mark, lo, and (read whole) its interfaces and routes. */
function namespaceState(lo: IpLink | undefined, { links, routes }: NamespaceView): NamespaceState {
  const ifaces: Record<string, IfaceState> = {};
  for (const l of links) {
    if (l.ifname === 'lo') continue;
    const iface: IfaceState = { mac: l.address ?? '', mtu: l.mtu, up: l.flags.includes('UP'), addrs: addrsOf(l) };
    if (l.ipv6_disabled !== undefined) iface.ipv6Disabled = l.ipv6_disabled;
    ifaces[l.ifname] = iface;
  }
  return {
    mark: lo?.ifalias,
    loUp: !!lo?.flags.includes('UP'),
    ifaces,
    routes: routes.filter((rt) => rt.protocol !== 'kernel').map((rt) => `${rt.dst}${rt.gateway ? ` via ${rt.gateway}` : ''} dev ${rt.dev}`),
  };
}

async function readSysctls(r: Reading): Promise<void> {
  for (const key of Object.keys(r.want.sysctls)) {
    const v = await readSysctl(key);
    if (v !== undefined) r.s.sysctls[key] = v;
  }
}

/** Open vSwitch, when the lab wants it or an OVS answers here (its bridges may outlive a changed file). */
async function readOvsBridges(r: Reading, hostJson: IpLink[]): Promise<void> {
  const byName = new Map(hostJson.map((l) => [l.ifname, l]));
  const ovs = await observeOvs(r.lab, (port) => ({ master: byName.get(port)?.master, mtu: byName.get(port)?.mtu }), r.want.ovs);
  if (ovs && (Object.keys(ovs.bridges).length > 0 || r.want.ovs)) r.s.ovs = ovs.bridges;
  r.foreign.push(...(ovs?.foreign ?? []));
}

/**
 * Both firewalls as read: the lab's own (the one it wants, else the one with its rules) and the
 * other (a lab that switched `firewall:` still has rules there); the labs with objects here; and
 * a warning when iptables' FORWARD policy drops what an nftables lab accepts.
 */
function sortFirewalls(r: Reading, iptables: Awaited<ReturnType<typeof observeIptables>>, nftables: FirewallState, hostJson: IpLink[]): { labsHere: Set<string>; warnings: string[] } {
  const { want, s } = r;
  const hasAny = (f: FirewallState) => Object.values(f.tables).some((t) => t.chains.length + t.jumps.length + t.rules.length > 0);
  const { foreign: _alien, labs: iptLabs, ...ipt } = iptables;
  const labsHere = new Set([...labsOfLinks(hostJson), ...iptLabs]);
  const [primary, other] = want.firewall?.backend === 'nftables' ? nftablesFirst(ipt, nftables) : !want.firewall && !hasAny(ipt) && hasAny(nftables) ? [nftables, ipt] : [ipt, nftables];
  if (hasAny(primary) || want.firewall) s.firewall = primary;
  if (hasAny(other)) s.otherFirewall = other;
  const warnings: string[] = [];
  const ipv6 = want.firewall?.tables['ip6 filter'] !== undefined;
  if (want.firewall?.backend === 'nftables' && (iptables.forwardDrop || (ipv6 && iptables.forwardDrop6)) && Object.keys(want.hostLinks).length > 0) {
    warnings.push(
      `${iptables.forwardDrop ? "iptables'" : "ip6tables'"} FORWARD policy is DROP (Docker sets it): it drops the lab's forwarded traffic whatever the nftables table accepts; netlab never changes a policy, so use "firewall: iptables" on this host, or accept the lab's bridges in DOCKER-USER yourself`,
    );
  }
  return { labsHere, warnings };
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

/**
 * Reads what of a lab exists in the kernel, recognised by netlab's marks (link aliases, the
 * alias of `lo` in a namespace, rule comments) or by the names the last `up` planned, and
 * reports objects that carry a wanted name but are not the lab's: those are never touched.
 */
import { basename, join } from 'node:path';
import { log } from '../log.js';
import { parseMark, netnsPrefix } from '../model/names.js';
import { ctrDir, ETC_NETNS_DIR, NETNS_DIR, labDir } from '../paths.js';
import { emptyState, type FirewallState, type HostLinkState, type IfaceState, type LabState, type NamespaceState } from '../plan/state.js';
import { readdirSync, type Dirent } from 'node:fs';
import { listDir, readSysctl } from './host.js';
import { readStamped, type Stamps } from './stamps.js';
import { iptablesSaveAll, labsInIptables, moveIsolation, observeIptables } from './iptables.js';
import { observeNftables } from './nftables.js';
import { pidsByNamespace, specMark } from './processes.js';
import type { KernelBackend } from './backend.js';
import type { IpLink } from './linkview.js';
import { mountedUts } from './uts.js';
import { mountedMnt, readMntHash } from './mnt.js';
import { monitorPid, readMonitorState } from './monitor.js';
import { observeOvs } from './ovs.js';
import { run } from './run.js';

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

const ipv4 = (l: IpLink) => (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);

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
  for (const l of hostJson) {
    const wanted = want.hostLinks[l.ifname];
    if (!inScope(l.ifalias)) {
      if (wanted && !plannedLinks.has(l.ifname)) foreign.push(`link ${l.ifname} (${l.ifalias ? `alias "${l.ifalias}"` : 'no netlab mark'})`);
      if (!wanted || !plannedLinks.has(l.ifname)) continue;
    }
    const k = l.linkinfo?.info_kind;
    const kind = k === 'bridge' || k === 'veth' || k === 'vxlan' ? k : 'other';
    const h: HostLinkState = { kind, alias: l.ifalias, mtu: l.mtu, up: l.flags.includes('UP'), master: l.master, mac: l.address, addrs: ipv4(l) };
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
  for (const [ns, { links, routes }] of await backend.readNamespaces(candidates, whole)) {
    const lo = links.find((l) => l.ifname === 'lo');
    const m = parseMark(lo?.ifalias);
    const planned = plannedNetns.has(ns);
    // Ours: a container namespace of this lab on this host, or one the last run planned before it could mark it.
    const role = underlay ? 'host' : 'ctr';
    const owned = m ? m.lab === lab && m.role === role && m.names[1] === input.host : planned;
    if (!owned) {
      if (want.namespaces[ns]) foreign.push(`network namespace ${ns} (${lo?.ifalias ? `mark "${lo.ifalias}"` : 'no netlab mark'})`);
      continue;
    }
    // A namespace of this lab whose mark names another container would be a bug or tampering.
    if (m && want.namespaces[ns] && lo?.ifalias !== want.namespaces[ns]!.mark) {
      foreign.push(`network namespace ${ns} (mark "${lo?.ifalias}")`);
      continue;
    }
    const ifaces: Record<string, IfaceState> = {};
    for (const l of whole(ns) ? links : []) {
      if (l.ifname === 'lo') continue;
      const iface: IfaceState = { mac: l.address ?? '', mtu: l.mtu, up: l.flags.includes('UP'), addrs: ipv4(l) };
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

  mark('namespaces');
  if (underlay) return { state: s, foreign, warnings: [], stamps: {} };
  const [iptables, nftables] = await fw!;
  foreign.unshift(...iptables.foreign);

  for (const key of Object.keys(want.sysctls)) {
    const v = await readSysctl(key);
    if (v !== undefined) s.sysctls[key] = v;
  }

  // /etc files of the lab's own namespaces, and of those the last `up` planned.
  const dirs = (await listDir(ETC_NETNS_DIR)).filter((dir) => s.namespaces[dir] || plannedNetns.has(dir));
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
  const pids = await pidsByNamespace(Object.keys(s.namespaces));
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

  // Open vSwitch, when the lab wants it or an OVS answers here (its bridges may outlive a changed file).
  const ovs = await observeOvs(lab, (port) => ({ master: byName.get(port)?.master, mtu: byName.get(port)?.mtu }));
  if (ovs && (Object.keys(ovs).length > 0 || want.ovs)) s.ovs = ovs;

  // Both backends are read: a lab that switched `firewall:` still has rules in the other one.
  const hasAny = (f: FirewallState) => Object.values(f.tables).some((t) => t.chains.length + t.jumps.length + t.rules.length > 0);
  const { foreign: _alien, labs: iptLabs, ...ipt } = iptables!;
  const labsHere = new Set([...labsOfLinks(hostJson), ...iptLabs]);
  const [primary, other] = want.firewall?.backend === 'nftables' ? nftablesFirst(ipt, nftables!) : !want.firewall && !hasAny(ipt) && hasAny(nftables!) ? [nftables!, ipt] : [ipt, nftables!];
  if (hasAny(primary) || want.firewall) s.firewall = primary;
  if (hasAny(other)) s.otherFirewall = other;
  const warnings: string[] = [];
  if (want.firewall?.backend === 'nftables' && iptables!.forwardDrop && Object.keys(want.hostLinks).length > 0) {
    warnings.push(
      "iptables' FORWARD policy is DROP (Docker sets it): it drops the lab's forwarded traffic whatever the nftables table accepts; netlab never changes a policy, so use \"firewall: iptables\" on this host, or accept the lab's bridges in DOCKER-USER yourself",
    );
  }
  mark('processes');
  log().debug({ backend: backend.name, namespaces: candidates.length, ...lap }, 'observed (ms since start)');
  return { state: s, foreign, warnings, stamps, labsHere };
}

/** An nftables lab's firewall, with its rules in the iptables isolation chains (model/firewall.ts), and what else it has in iptables. */
function nftablesFirst(ipt: FirewallState, nft: FirewallState): [FirewallState, FirewallState] {
  const [rest, withIsolation] = moveIsolation(ipt, nft);
  return [withIsolation, rest];
}

const labsOfLinks = (links: IpLink[]) => links.flatMap((l) => parseMark(l.ifalias)?.lab ?? []);

/** Labs with objects in this network namespace: marked links, and rules with a lab's comment. */
export async function labsOnHost(): Promise<Set<string>> {
  const links = JSON.parse((await run('ip', ['-j', '-d', 'link', 'show'])).stdout) as IpLink[];
  return new Set([...labsOfLinks(links), ...labsInIptables(await iptablesSaveAll())]);
}

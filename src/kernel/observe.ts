/**
 * Reads what of a lab exists in the kernel, recognised by netlab's marks (link aliases, the
 * alias of `lo` in a namespace, rule comments) or by the names the last `up` planned, and
 * reports objects that carry a wanted name but are not the lab's: those are never touched.
 */
import { join } from 'node:path';
import { parseMark, netnsPrefix } from '../model/names.js';
import { ETC_NETNS_DIR, NETNS_DIR, labDir } from '../paths.js';
import { emptyState, type HostLinkState, type IfaceState, type LabState, type NamespaceState } from '../plan/state.js';
import { listDir, readSysctl, readText } from './host.js';
import { observeIptables } from './iptables.js';
import { pidsByNamespace } from './processes.js';
import { mapLimit, run } from './run.js';
import { mountedUts, readUtsHostname } from './uts.js';

interface IpLink {
  ifname: string;
  ifalias?: string;
  mtu: number;
  flags: string[];
  master?: string;
  address?: string;
  link_netnsid?: number;
  linkinfo?: { info_kind?: string; info_slave_kind?: string; info_slave_data?: { hairpin?: boolean } };
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

interface IpRoute {
  dst: string;
  gateway?: string;
  dev: string;
  protocol?: string;
}

export interface ObserveInput {
  lab: string;
  /** Everything the lab wants, so objects with those names are looked at even without a mark. */
  want: LabState;
  /** Names the last `up` was about to create (state file): ours even when a crash came before the mark. */
  planned: { netns: string[]; links: string[] };
  /** Recorded spec hash and pid of each container's process (state file). */
  started: Record<string, { pid: number; specHash: string }>;
}

export interface Observation {
  state: LabState;
  /** Objects that carry a name the lab wants but are not the lab's. */
  foreign: string[];
}

const ipv4 = (l: IpLink) => (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);

export async function observe(input: ObserveInput): Promise<Observation> {
  const { lab, want } = input;
  const s = emptyState(lab);
  const foreign: string[] = [];
  const ours = (alias: string | undefined) => parseMark(alias)?.lab === lab;

  const [hostJson, nsNames, firewall] = await Promise.all([
    run('ip', ['-j', '-d', 'addr', 'show']).then((r) => JSON.parse(r.stdout) as IpLink[]),
    listDir(NETNS_DIR),
    observeIptables(lab),
  ]);
  foreign.push(...firewall.foreign);

  for (const l of hostJson) {
    const wanted = want.hostLinks[l.ifname];
    if (!ours(l.ifalias)) {
      if (wanted && !input.planned.links.includes(l.ifname)) foreign.push(`link ${l.ifname} (${l.ifalias ? `alias "${l.ifalias}"` : 'no netlab mark'})`);
      if (!wanted || !input.planned.links.includes(l.ifname)) continue;
    }
    const kind = l.linkinfo?.info_kind === 'bridge' ? 'bridge' : l.linkinfo?.info_kind === 'veth' ? 'veth' : 'other';
    const h: HostLinkState = { kind, alias: l.ifalias, mtu: l.mtu, up: l.flags.includes('UP'), master: l.master, mac: l.address, addrs: ipv4(l) };
    if (l.linkinfo?.info_slave_kind === 'bridge') h.hairpin = !!l.linkinfo.info_slave_data?.hairpin;
    if (kind === 'veth' && l.link_netnsid !== undefined && wanted?.peer) h.peer = { ns: wanted.peer.ns, name: wanted.peer.name };
    s.hostLinks[l.ifname] = h;
  }

  const candidates = nsNames.filter((n) => n.startsWith(netnsPrefix(lab)) || want.namespaces[n]);
  await mapLimit(candidates, 8, async (ns) => {
    const r = await run('ip', ['-n', ns, '-j', '-d', '-batch', '-'], { input: 'addr show\nroute show\n', allowFail: true });
    if (r.exitCode !== 0) return;
    const [links, routes] = r.stdout.trim().split('\n').map((line) => JSON.parse(line)) as [IpLink[], IpRoute[]];
    const lo = links.find((l) => l.ifname === 'lo');
    const m = parseMark(lo?.ifalias);
    const planned = input.planned.netns.includes(ns);
    if (m?.lab !== lab && !(planned && !lo?.ifalias)) {
      if (want.namespaces[ns]) foreign.push(`network namespace ${ns} (${lo?.ifalias ? `mark "${lo.ifalias}"` : 'no netlab mark'})`);
      return;
    }
    // A namespace of this lab whose mark names another container would be a bug or tampering.
    if (m && m.role === 'ctr' && want.namespaces[ns] && lo?.ifalias !== want.namespaces[ns]!.mark) {
      foreign.push(`network namespace ${ns} (mark "${lo?.ifalias}")`);
      return;
    }
    const ifaces: Record<string, IfaceState> = {};
    for (const l of links) if (l.ifname !== 'lo') ifaces[l.ifname] = { mac: l.address ?? '', mtu: l.mtu, up: l.flags.includes('UP'), addrs: ipv4(l) };
    const state: NamespaceState = {
      mark: lo?.ifalias,
      loUp: !!lo?.flags.includes('UP'),
      ifaces,
      routes: routes.filter((rt) => rt.protocol !== 'kernel').map((rt) => `${rt.dst}${rt.gateway ? ` via ${rt.gateway}` : ''} dev ${rt.dev}`),
    };
    s.namespaces[ns] = state;
  });

  for (const key of Object.keys(want.sysctls)) {
    const v = await readSysctl(key);
    if (v !== undefined) s.sysctls[key] = v;
  }

  // /etc files of the lab's own namespaces, and of those the last `up` planned.
  for (const dir of await listDir(ETC_NETNS_DIR)) {
    if (!s.namespaces[dir] && !input.planned.netns.includes(dir)) continue;
    (s.etcDirs ??= []).push(join(ETC_NETNS_DIR, dir));
    for (const f of await listDir(join(ETC_NETNS_DIR, dir))) {
      const path = join(ETC_NETNS_DIR, dir, f);
      const text = await readText(path);
      if (text !== undefined) s.files[path] = text;
    }
  }

  for (const path of await mountedUts(join(labDir(lab), 'uts'))) {
    const h = await readUtsHostname(path);
    if (h !== undefined) s.uts[path] = h;
  }

  const pids = await pidsByNamespace(Object.keys(s.namespaces));
  const containerOf = (ns: string) => ns.slice(netnsPrefix(lab).length);
  for (const [ns, list] of pids) {
    const name = containerOf(ns);
    const w = want.processes[name];
    const rec = input.started[name];
    if (list.length === 0 && !w) continue;
    // Without a record (a run killed right after starting it, or a lost state file) netlab cannot
    // vouch for what runs there: it counts as not running, and `up` restarts it with the current spec.
    const running = rec ? list.includes(rec.pid) : false;
    s.processes[name] = { running, pids: list, specHash: rec?.specHash, ns, uts: w?.uts ?? '', log: w?.log ?? '' };
  }

  const hasAny = Object.values(firewall.tables).some((t) => t.chains.length + t.jumps.length + t.rules.length > 0);
  if (hasAny || want.firewall) s.firewall = { backend: firewall.backend, tables: firewall.tables };
  return { state: s, foreign };
}

/** Labs with objects in this network namespace: marked links, and rules with a lab's comment. */
export async function labsOnHost(): Promise<Set<string>> {
  const labs = new Set<string>();
  const links = JSON.parse((await run('ip', ['-j', '-d', 'link', 'show'])).stdout) as IpLink[];
  for (const l of links) {
    const m = parseMark(l.ifalias);
    if (m) labs.add(m.lab);
  }
  for (const table of ['nat', 'filter']) {
    const { stdout } = await run('iptables-save', ['-t', table]);
    for (const m of stdout.matchAll(/--comment "?netlab:([a-z0-9_-]{1,16})"?/g)) labs.add(m[1]!);
  }
  return labs;
}

/**
 * desired − observed → Ops, in an order the kernel accepts: stop, remove, create, configure,
 * start. Only objects of the lab appear in `observed` (the observer filters by ownership
 * marks), so nothing else can ever be deleted. Equal states give no Ops.
 */
import { basename, dirname } from 'node:path';
import type { Op } from './ops.js';
import { ovsName } from '../model/names.js';
import { disableIpv6Key, type FirewallState, type HostLinkState, type IfaceState, type LabState, type NamespaceState } from './state.js';
import { linkGroup, netnsName, parseMark } from '../model/names.js';
import { isEmpty, sameImpairment, type Impairment } from '../model/impair.js';

export function diff(want: LabState, have: LabState): Op[] {
  const stop: Op[] = [];
  const remove: Op[] = [];
  const addNs: Op[] = [];
  const hostLinks: Op[] = [];
  const nsOps: Op[] = [];
  const config: Op[] = [];
  const firewall: Op[] = [];
  const start: Op[] = [];

  // Mount namespaces made anew: one with other mounts, or whose network namespace is new (its sysfs shows the old one).
  const freshMnt = new Set(
    Object.entries(want.mnts)
      .filter(([path, w]) => have.mnts[path]?.hash !== w.hash || !have.namespaces[w.ns])
      .map(([path]) => path),
  );

  // Processes: (re)start what is not running or was started with another spec.
  for (const [name, p] of Object.entries(have.processes)) {
    const w = want.processes[name];
    const restart = w && (!p.running || (p.specHash !== undefined && p.specHash !== w.specHash) || freshMnt.has(w.mnt));
    const pids = [...(!w || restart ? [...p.pids, ...(p.nested ?? [])] : []), ...(p.strays ?? [])];
    if (pids.length > 0 || (p.monitor && (!w || restart))) stop.push({ kind: 'process.stop', container: name, ns: p.ns, pids, ...(p.monitor && (!w || restart) ? { monitor: p.monitor } : {}) });
  }
  for (const [name, w] of Object.entries(want.processes)) {
    const p = have.processes[name];
    const namespaceNew = !have.namespaces[w.ns];
    if (!p?.running || namespaceNew || freshMnt.has(w.mnt) || (p.specHash !== undefined && p.specHash !== w.specHash)) {
      const host = parseMark(want.namespaces[w.ns]?.mark)?.names[1];
      const mark = host === undefined ? { lab: want.lab, container: name } : { lab: want.lab, container: name, host };
      start.push({ kind: 'process.start', container: name, ns: w.ns, uts: w.uts, mnt: w.mnt, dir: w.dir, log: w.log, spec: w.spec!, specHash: w.specHash!, mark });
    }
  }

  // Namespaces that go: their veths, the namespace, its /etc files.
  for (const ns of Object.keys(have.namespaces)) {
    if (want.namespaces[ns]) continue;
    remove.push({ kind: 'netns.del', ns });
  }
  // Names left by a run killed before it bound its namespace: cleared, and made again if wanted.
  for (const ns of have.unboundNetns ?? []) remove.push({ kind: 'netns.del', ns });

  // Host links: bridges before veths, so a veth's master exists.
  const recreatedPeers = new Set<string>();
  const ordered = Object.entries(want.hostLinks).sort(([, a], [, b]) => (a.kind === 'bridge' ? 0 : 1) - (b.kind === 'bridge' ? 0 : 1));
  const goneNs = new Set(Object.keys(have.namespaces).filter((ns) => !want.namespaces[ns]));
  const reaped: string[] = [];
  for (const [name, h] of Object.entries(have.hostLinks)) {
    const w = want.hostLinks[name];
    const peerNs = peerNamespace(have.lab, h);
    if (!w && h.kind === 'veth' && goneNs.has(peerNs ?? '')) {
      // Deleting the namespace takes the pair with it, all pairs in one batch in the kernel,
      // much faster than one deletion each (each waits for an RCU grace period).
      reaped.push(name);
      continue;
    }
    const vxlanChanged = w?.vxlan && JSON.stringify(w.vxlan) !== JSON.stringify(h.vxlan);
    if (h.kind === 'veth' && peerNs !== undefined && !have.namespaces[peerNs] && (!w || w.kind === 'veth')) {
      // Its namespace was deleted by hand: the kernel takes the pair once nothing holds that
      // namespace (the stray commands stopped first), so it is waited for, not deleted in a race.
      reaped.push(name);
      if (w?.peer) recreatedPeers.add(`${w.peer.ns}/${w.peer.name}`);
      continue;
    }
    if (!w || w.kind !== h.kind || (w.kind === 'veth' && !vethIntact(w, h, have)) || vxlanChanged) {
      remove.unshift({ kind: 'link.del', name });
      if (w?.peer) recreatedPeers.add(`${w.peer.ns}/${w.peer.name}`);
    }
  }
  if (reaped.length > 0) remove.push({ kind: 'kernel.reap', links: reaped });
  const removedLinks = new Set([...reaped, ...remove.flatMap((o) => (o.kind === 'link.del' ? [o.name] : []))]);
  for (const [name, w] of ordered) {
    const h0 = have.hostLinks[name];
    const fresh = !h0 || removedLinks.has(name);
    const h: HostLinkState = fresh ? { kind: w.kind, mtu: 0, up: false, addrs: [] } : h0;
    if (fresh) {
      const group = linkGroup(want.lab);
      if (w.kind === 'bridge') hostLinks.push({ kind: 'bridge.add', name, mtu: w.mtu, group });
      else if (w.kind === 'vxlan' && w.vxlan) hostLinks.push({ kind: 'vxlan.add', name, mtu: w.mtu, ...w.vxlan, group });
      else if (w.kind === 'veth' && w.peer) {
        hostLinks.push({ kind: 'veth.add', name, mtu: w.mtu, peer: { ns: w.peer.ns, name: w.peer.name }, group });
        recreatedPeers.add(`${w.peer.ns}/${w.peer.name}`);
      }
    }
    const set: Extract<Op, { kind: 'link.set' }> = { kind: 'link.set', name };
    if (w.alias !== h.alias) set.alias = w.alias;
    if (w.mtu !== h.mtu && !(fresh && w.kind === 'veth')) set.mtu = w.mtu;
    if (w.master && w.master !== h.master) set.master = w.master;
    if (Object.keys(set).length > 2) hostLinks.push(set);
    if (w.hairpin !== undefined && w.hairpin !== !!h.hairpin) hostLinks.push({ kind: 'link.set', name, hairpin: w.hairpin });
    addrOps(name, w.addrs, h.addrs, undefined, hostLinks);
    for (const dst of h.fdb ?? []) if (!w.fdb?.includes(dst)) hostLinks.push({ kind: 'fdb.del', dev: name, dst });
    for (const dst of w.fdb ?? []) if (!h.fdb?.includes(dst)) hostLinks.push({ kind: 'fdb.append', dev: name, dst });
    if (w.up && !h.up) hostLinks.push({ kind: 'link.set', name, up: true });
  }

  // Inside each namespace: lo, interfaces, addresses, routes.
  for (const [ns, w] of Object.entries(want.namespaces)) {
    const h0 = have.namespaces[ns];
    if (!h0) addNs.push(w.mark ? { kind: 'netns.add', ns, mark: w.mark } : { kind: 'netns.add', ns });
    const h: NamespaceState = h0 ?? { mark: w.mark, loUp: false, ifaces: {}, routes: [] };
    if (w.mark !== h.mark) nsOps.push({ kind: 'link.set', ns, name: 'lo', alias: w.mark });
    if (w.loUp && !h.loUp) nsOps.push({ kind: 'link.set', ns, name: 'lo', up: true });
    for (const [ifname, wi] of Object.entries(w.ifaces)) {
      const hi: IfaceState = recreatedPeers.has(`${ns}/${ifname}`) || !h.ifaces[ifname] ? { mac: '', mtu: 0, up: false, addrs: [] } : h.ifaces[ifname]!;
      const set: Extract<Op, { kind: 'link.set' }> = { kind: 'link.set', ns, name: ifname };
      if (wi.mac !== hi.mac) set.mac = wi.mac;
      if (wi.mtu !== hi.mtu && hi.mtu !== 0) set.mtu = wi.mtu;
      if (Object.keys(set).length > 3) nsOps.push(set);
      // Before the interface comes up, or IPv6 would already have sent its first packets.
      if (wi.ipv6Disabled && !hi.ipv6Disabled) nsOps.push({ kind: 'netns.sysctl', ns, key: disableIpv6Key(ifname), value: '1' });
      // On an IPv6 endpoint, before its addresses: a disabled interface takes none.
      if (wi.ipv6Disabled === false && hi.ipv6Disabled !== false) nsOps.push({ kind: 'netns.sysctl', ns, key: disableIpv6Key(ifname), value: '0' });
      addrOps(ifname, wi.addrs, hi.addrs, ns, nsOps);
      if (wi.up && !hi.up) nsOps.push({ kind: 'link.set', ns, name: ifname, up: true });
      const tc = impairOp(ns, ifname, wi.impair, hi.impair);
      if (tc) config.push(tc);
    }
    const fresh = (r: string) => recreatedPeers.has(`${ns}/${r.slice(r.lastIndexOf(' dev ') + 5)}`);
    for (const r of w.routes) if (!h.routes.includes(r) || fresh(r)) nsOps.push({ kind: 'route.replace', ns, route: r });
    for (const r of h.routes) if (!w.routes.includes(r)) nsOps.push({ kind: 'route.del', ns, route: r });
  }

  config.push(...ovsDiff(want, have));
  for (const [key, value] of Object.entries(want.sysctls)) if (have.sysctls[key] !== value) config.push({ kind: 'sysctl.set', key, value });
  for (const [path, content] of Object.entries(want.files)) {
    if (have.files[path] === content) continue;
    const pieces = want.filePieces?.[path];
    config.push(pieces ? { kind: 'file.write', path, content, pieces } : { kind: 'file.write', path, content });
  }
  for (const path of Object.keys(have.files)) if (!(path in want.files)) remove.push({ kind: 'file.del', path });
  for (const [path, hostname] of Object.entries(want.uts)) if (have.uts[path] !== hostname) config.push({ kind: 'uts.add', path, hostname });
  for (const path of Object.keys(have.uts)) if (!(path in want.uts)) remove.push({ kind: 'uts.del', path });
  // After the /etc files, which they bind.
  const mnts: Op[] = [];
  for (const path of Object.keys(have.mnts)) if (!want.mnts[path] || freshMnt.has(path)) remove.push({ kind: 'mnt.del', path });
  for (const path of freshMnt) mnts.push({ kind: 'mnt.add', path, ns: want.mnts[path]!.ns, script: want.mnts[path]!.script ?? [], fstab: want.mnts[path]!.fstab ?? '', hash: want.mnts[path]!.hash });

  const haveSame = have.firewall && have.firewall.backend === want.firewall?.backend ? have.firewall : undefined;
  if (want.firewall && !sameFirewall(want.firewall, haveSame)) {
    firewall.push({ kind: 'firewall.apply', lab: want.lab, want: want.firewall, have: haveSame });
    const haveRules = new Set(Object.values(haveSame?.tables ?? {}).flatMap((t) => t.rules));
    for (const u of want.firewall.udpDnat ?? []) {
      if (!haveRules.has(u.rule) || !have.namespaces[u.netns])
        firewall.push({ kind: 'conntrack.flush', proto: 'udp', port: u.port, ...(u.portEnd ? { portEnd: u.portEnd } : {}), ...(u.family ? { family: u.family } : {}) });
    }
  }
  // The lab's rules in a backend it does not (or no longer) use.
  for (const f of [have.firewall, have.otherFirewall]) {
    if (f && f !== haveSame && !emptyFirewall(f)) firewall.unshift({ kind: 'firewall.remove', lab: have.lab, have: f });
  }

  const removeFw = firewall.filter((o) => o.kind === 'firewall.remove');
  const applyFw = firewall.filter((o) => o.kind === 'firewall.apply' || o.kind === 'conntrack.flush');
  // OVS bridges that go take their ports with them; they go before the Linux bridges they plug into.
  const ovsGone: Op[] = Object.keys(have.ovs ?? {})
    .filter((b) => !want.ovs?.[b])
    .map((bridge) => ({ kind: 'ovs.bridge.del', bridge }));
  // The /etc/netns folder of every namespace that is not wanted, also when the namespace itself is already gone.
  const goneDirs = new Set([...Object.keys(have.files).map((f) => dirname(f)), ...(have.etcDirs ?? [])].filter((d) => !want.namespaces[basename(d)]));
  return [...stop, ...removeFw, ...ovsGone, ...sortRemovals(remove, goneDirs), ...addNs, ...hostLinks, ...nsOps, ...config, ...mnts, ...applyFw, ...start];
}

/**
 * The tc change that gives an interface its impairment: `have` is undefined where the qdiscs were
 * not read (a lab that never had one) or the interface is new; then only a wanted one is made.
 */
export function impairOp(ns: string, dev: string, want: Impairment | undefined, have: Impairment | undefined): Op | undefined {
  if (have === undefined) return isEmpty(want) ? undefined : { kind: 'tc.set', ns, dev, impair: want! };
  return sameImpairment(want, have) ? undefined : { kind: 'tc.set', ns, dev, impair: want ?? {}, have };
}

/** Bridges, ports, the plug into the Linux bridge, and the split-horizon flows of each wanted OVS bridge. */
function ovsDiff(want: LabState, have: LabState): Op[] {
  const out: Op[] = [];
  for (const [bridge, w] of Object.entries(want.ovs ?? {})) {
    const h = have.ovs?.[bridge];
    if (h && h.datapath !== w.datapath) out.push({ kind: 'ovs.bridge.del', bridge });
    const fresh = !h || h.datapath !== w.datapath;
    if (fresh) out.push({ kind: 'ovs.bridge.add', bridge, datapath: w.datapath, lab: want.lab });
    const hp = fresh ? {} : h.ports;
    for (const port of Object.keys(hp)) if (!w.ports[port]) out.push({ kind: 'ovs.port.del', bridge, port });
    for (const [port, p] of Object.entries(w.ports)) {
      const cur = hp[port];
      const same = cur && cur.type === p.type && sortedJson(cur.options) === sortedJson(p.options);
      if (cur && !same) out.push({ kind: 'ovs.port.del', bridge, port });
      if (!same) out.push({ kind: 'ovs.port.add', bridge, port, type: p.type, options: p.options, lab: want.lab });
      if (p.master && (!same || cur?.master !== p.master || cur?.mtu !== p.mtu)) out.push({ kind: 'ovs.plug', port, master: p.master, mtu: p.mtu ?? 1500 });
    }
    if (fresh || [...w.flows].sort().join('\n') !== [...h.flows].sort().join('\n')) out.push({ kind: 'ovs.flows', bridge, cookie: ovsName.cookie(want.lab), flows: w.flows });
  }
  return out;
}

/** The namespace of a host veth's peer, from its mark (`netlab:<lab>:veth:<container>:<network>`). */
function peerNamespace(lab: string, h: HostLinkState): string | undefined {
  const m = parseMark(h.alias);
  return m?.lab === lab && m.role === 'veth' && m.names[0] ? netnsName(lab, m.names[0]) : undefined;
}

/** A veth is intact when its peer still sits in the namespace under the right name. */
function vethIntact(w: HostLinkState, h: HostLinkState, have: LabState): boolean {
  if (!w.peer) return true;
  return h.peer !== undefined && have.namespaces[w.peer.ns]?.ifaces[w.peer.name] !== undefined;
}

function addrOps(dev: string, want: string[], have: string[], ns: string | undefined, out: Op[]): void {
  for (const a of have) if (!want.includes(a)) out.push({ kind: 'addr.del', dev, cidr: a, ns });
  for (const a of want) if (!have.includes(a)) out.push({ kind: 'addr.add', dev, cidr: a, ns });
}

/**
 * Mount namespaces first (their sysfs holds the network namespace). Links before namespaces
 * (deleting the host end of a veth removes its peer at once, while a
 * namespace is torn down asynchronously), then the wait for the veths the namespaces take
 * with them, files before the /etc/netns folder of a namespace that goes.
 */
function sortRemovals(ops: Op[], goneDirs: Set<string>): Op[] {
  const rank = (o: Op) => ({ 'mnt.del': -1, 'link.del': 0, 'netns.del': 1, 'kernel.reap': 2, 'uts.del': 3, 'file.del': 4 })[o.kind as string] ?? 5;
  const dirs = [...goneDirs].map((path) => ({ kind: 'file.del' as const, path, dir: true }));
  return [...ops.sort((a, b) => rank(a) - rank(b)), ...dirs];
}

export function sameFirewall(a: FirewallState, b: FirewallState | undefined): boolean {
  if (!b || a.backend !== b.backend) return false;
  const tables = new Set([...Object.keys(a.tables), ...Object.keys(b.tables)]);
  for (const t of tables) {
    const x = a.tables[t] ?? { chains: [], jumps: [], rules: [] };
    const y = b.tables[t] ?? { chains: [], jumps: [], rules: [] };
    if ([...x.chains].sort().join('\n') !== [...y.chains].sort().join('\n')) return false;
    if ([...x.jumps].sort().join('\n') !== [...y.jumps].sort().join('\n')) return false;
    if (byChain(x.rules, a.backend).join('\n') !== byChain(y.rules, a.backend).join('\n')) return false;
    // A shared chain the lab needs must exist (its own rules in it are compared as jumps).
    if ((x.shared ?? []).some((c) => !(y.shared ?? []).includes(c))) return false;
  }
  return true;
}

function emptyFirewall(f: FirewallState): boolean {
  return Object.values(f.tables).every((t) => t.chains.length === 0 && t.jumps.length === 0 && t.rules.length === 0);
}

/** Rules grouped by chain (a stable sort keeps each chain's order), as iptables-save may list chains in any order. */
function byChain(rules: string[], backend: FirewallState['backend']): string[] {
  // iptables rules read `-A CHAIN ...`; nftables rules `CHAIN ...`.
  const chainOf = (r: string) => (backend === 'iptables' ? r.split(' ', 2)[1] : r.split(' ', 1)[0]) ?? '';
  return [...rules].sort((a, b) => chainOf(a).localeCompare(chainOf(b)));
}

const sortedJson = (o: Record<string, string>) => JSON.stringify(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));

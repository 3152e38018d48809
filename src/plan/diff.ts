/**
 * desired − observed → Ops, one function per resource (processes, namespaces, host links, the
 * files, mounts, the firewall, OVS), joined in an order the kernel accepts: stop, remove, create,
 * configure, start. plan/steps.ts then groups them into the steps apply runs. Only objects of the
 * lab appear in `observed` (the observer filters by ownership marks), so nothing else can ever be
 * deleted. Equal states give no Ops.
 */
import { basename, dirname } from 'node:path';
import type { Op } from './ops.js';
import { ovsName } from '../model/names.js';
import { disableIpv6Key, type HostLinkState, type IfaceState, type LabState, type NamespaceState } from './state.js';
import { linkGroup, netnsName, parseMark } from '../model/names.js';
import { isEmpty, sameImpairment, type Impairment } from '../model/impair.js';
import { firewallOps } from './diff-firewall.js';

export { sameFirewall } from './diff-firewall.js';

type LinkSet = Extract<Op, { kind: 'link.set' }>;

/** Peers (`ns/name`) of host veths that are made anew: their container ends start from nothing. */
type Peers = Set<string>;

export function diff(want: LabState, have: LabState): Op[] {
  const freshMnt = freshMounts(want, have);
  const { stop, start } = processOps(want, have, freshMnt);
  const links = hostLinkRemovals(want, have);
  const made = hostLinkOps(want, have, links);
  const inside = namespaceOps(want, have, made.peers);
  const files = fileOps(want, have);
  const mnts = mountOps(want, have, freshMnt);
  const firewall = firewallOps(want, have);
  const remove = sortRemovals([...namespaceRemovals(want, have), ...links.remove, ...files.remove, ...mnts.remove], goneEtcDirs(want, have));
  const config = [...inside.tc, ...ovsDiff(want, have), ...sysctlOps(want, have), ...files.make];
  return [...stop, ...firewall.remove, ...ovsGone(want, have), ...remove, ...inside.addNs, ...made.ops, ...inside.ops, ...config, ...mnts.make, ...firewall.apply, ...start];
}

/** Mount namespaces made anew: one with other mounts, or whose network namespace is new (its sysfs shows the old one). */
function freshMounts(want: LabState, have: LabState): Set<string> {
  return new Set(
    Object.entries(want.mnts)
      .filter(([path, w]) => have.mnts[path]?.hash !== w.hash || !have.namespaces[w.ns])
      .map(([path]) => path),
  );
}

/** Processes: (re)start what is not running or was started with another spec; stop what is not wanted. */
function processOps(want: LabState, have: LabState, freshMnt: Set<string>): { stop: Op[]; start: Op[] } {
  const stop: Op[] = [];
  const start: Op[] = [];
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
  return { stop, start };
}

/** Namespaces that go (their veths go with them), and names left by a run killed before it bound its namespace: cleared, and made again if wanted. */
function namespaceRemovals(want: LabState, have: LabState): Op[] {
  const gone = Object.keys(have.namespaces).filter((ns) => !want.namespaces[ns]);
  return [...gone, ...(have.unboundNetns ?? [])].map((ns) => ({ kind: 'netns.del', ns }));
}

/**
 * Host links that go or are made anew: deleted, or, where the namespace of a veth's peer goes
 * (or went), waited for as the kernel removes them (`kernel.reap`). `peers`: the container ends
 * of veths made anew.
 */
function hostLinkRemovals(want: LabState, have: LabState): { remove: Op[]; removed: Set<string>; peers: Peers } {
  const deleted: string[] = [];
  const reaped: string[] = [];
  const peers: Peers = new Set();
  for (const [name, h] of Object.entries(have.hostLinks)) {
    const w = want.hostLinks[name];
    const peerNs = peerNamespace(have.lab, h);
    // Deleting the namespace takes the pair with it, all pairs in one batch in the kernel,
    // much faster than one deletion each (each waits for an RCU grace period).
    if (!w && h.kind === 'veth' && peerNs !== undefined && !want.namespaces[peerNs] && have.namespaces[peerNs]) reaped.push(name);
    // Its namespace was deleted by hand: the kernel takes the pair once nothing holds that
    // namespace (the stray commands stopped first), so it is waited for, not deleted in a race.
    else if (h.kind === 'veth' && peerNs !== undefined && !have.namespaces[peerNs] && (!w || w.kind === 'veth')) reaped.push(name);
    else if (!w || w.kind !== h.kind || (w.kind === 'veth' && !vethIntact(w, h, have)) || (w.vxlan && JSON.stringify(w.vxlan) !== JSON.stringify(h.vxlan))) deleted.push(name);
    else continue;
    if (w?.peer) peers.add(`${w.peer.ns}/${w.peer.name}`);
  }
  const remove: Op[] = deleted.reverse().map((name) => ({ kind: 'link.del', name }));
  if (reaped.length > 0) remove.push({ kind: 'kernel.reap', links: reaped });
  return { remove, removed: new Set([...reaped, ...deleted]), peers };
}

/** Host links to make or change: bridges before veths, so that a veth's master exists. */
function hostLinkOps(want: LabState, have: LabState, links: { removed: Set<string>; peers: Peers }): { ops: Op[]; peers: Peers } {
  const ops: Op[] = [];
  const peers = new Set(links.peers);
  const ordered = Object.entries(want.hostLinks).sort(([, a], [, b]) => (a.kind === 'bridge' ? 0 : 1) - (b.kind === 'bridge' ? 0 : 1));
  for (const [name, w] of ordered) {
    const h0 = have.hostLinks[name];
    const fresh = !h0 || links.removed.has(name);
    if (fresh) ops.push(...createLink(want.lab, name, w, peers));
    ops.push(...hostLinkSettings(name, w, fresh ? { kind: w.kind, mtu: 0, up: false, addrs: [] } : h0, fresh));
  }
  return { ops, peers };
}

/** The Op that makes a host link (a veth's container end joins `peers`). */
function createLink(lab: string, name: string, w: HostLinkState, peers: Peers): Op[] {
  const group = linkGroup(lab);
  if (w.kind === 'bridge') return [{ kind: 'bridge.add', name, mtu: w.mtu, group }];
  if (w.kind === 'vxlan' && w.vxlan) return [{ kind: 'vxlan.add', name, mtu: w.mtu, ...w.vxlan, group }];
  if (w.kind !== 'veth' || !w.peer) return [];
  peers.add(`${w.peer.ns}/${w.peer.name}`);
  return [{ kind: 'veth.add', name, mtu: w.mtu, peer: { ns: w.peer.ns, name: w.peer.name }, group }];
}

/** A host link's alias, MTU, master, hairpin, addresses, FDB and state. */
function hostLinkSettings(name: string, w: HostLinkState, h: HostLinkState, fresh: boolean): Op[] {
  const ops: Op[] = [];
  const set: LinkSet = { kind: 'link.set', name };
  if (w.alias !== h.alias) set.alias = w.alias;
  if (w.mtu !== h.mtu && !(fresh && w.kind === 'veth')) set.mtu = w.mtu;
  if (w.master && w.master !== h.master) set.master = w.master;
  if (Object.keys(set).length > 2) ops.push(set);
  if (w.hairpin !== undefined && w.hairpin !== !!h.hairpin) ops.push({ kind: 'link.set', name, hairpin: w.hairpin });
  addrOps(name, w.addrs, h.addrs, undefined, ops);
  for (const dst of h.fdb ?? []) if (!w.fdb?.includes(dst)) ops.push({ kind: 'fdb.del', dev: name, dst });
  for (const dst of w.fdb ?? []) if (!h.fdb?.includes(dst)) ops.push({ kind: 'fdb.append', dev: name, dst });
  if (w.up && !h.up) ops.push({ kind: 'link.set', name, up: true });
  return ops;
}

/** Inside each namespace: lo, interfaces, addresses, routes; and the namespaces to make. `tc`: the impairments, configured later. */
function namespaceOps(want: LabState, have: LabState, peers: Peers): { addNs: Op[]; ops: Op[]; tc: Op[] } {
  const addNs: Op[] = [];
  const ops: Op[] = [];
  const tc: Op[] = [];
  for (const [ns, w] of Object.entries(want.namespaces)) {
    const h0 = have.namespaces[ns];
    if (!h0) addNs.push(w.mark ? { kind: 'netns.add', ns, mark: w.mark } : { kind: 'netns.add', ns });
    const h: NamespaceState = h0 ?? { mark: w.mark, loUp: false, ifaces: {}, routes: [] };
    if (w.mark !== h.mark) ops.push({ kind: 'link.set', ns, name: 'lo', alias: w.mark });
    if (w.loUp && !h.loUp) ops.push({ kind: 'link.set', ns, name: 'lo', up: true });
    for (const [ifname, wi] of Object.entries(w.ifaces)) {
      const hi: IfaceState = peers.has(`${ns}/${ifname}`) || !h.ifaces[ifname] ? { mac: '', mtu: 0, up: false, addrs: [] } : h.ifaces[ifname]!;
      ops.push(...ifaceOps(ns, ifname, wi, hi));
      const impair = impairOp(ns, ifname, wi.impair, hi.impair);
      if (impair) tc.push(impair);
    }
    ops.push(...routeOps(ns, w.routes, h.routes, peers));
  }
  return { addNs, ops, tc };
}

/** An interface inside a namespace: MAC, MTU, IPv6 on or off, addresses, then up. */
function ifaceOps(ns: string, ifname: string, wi: IfaceState, hi: IfaceState): Op[] {
  const ops: Op[] = [];
  const set: LinkSet = { kind: 'link.set', ns, name: ifname };
  if (wi.mac !== hi.mac) set.mac = wi.mac;
  if (wi.mtu !== hi.mtu && hi.mtu !== 0) set.mtu = wi.mtu;
  if (Object.keys(set).length > 3) ops.push(set);
  // Before the interface comes up, or IPv6 would already have sent its first packets.
  if (wi.ipv6Disabled && !hi.ipv6Disabled) ops.push({ kind: 'netns.sysctl', ns, key: disableIpv6Key(ifname), value: '1' });
  // On an IPv6 endpoint, before its addresses: a disabled interface takes none.
  if (wi.ipv6Disabled === false && hi.ipv6Disabled !== false) ops.push({ kind: 'netns.sysctl', ns, key: disableIpv6Key(ifname), value: '0' });
  addrOps(ifname, wi.addrs, hi.addrs, ns, ops);
  if (wi.up && !hi.up) ops.push({ kind: 'link.set', ns, name: ifname, up: true });
  return ops;
}

/** Routes of a namespace; those through an interface made anew are set again (they went with it). */
function routeOps(ns: string, want: string[], have: string[], peers: Peers): Op[] {
  const fresh = (r: string) => peers.has(`${ns}/${r.slice(r.lastIndexOf(' dev ') + 5)}`);
  return [
    ...want.filter((r) => !have.includes(r) || fresh(r)).map((route): Op => ({ kind: 'route.replace', ns, route })),
    ...have.filter((r) => !want.includes(r)).map((route): Op => ({ kind: 'route.del', ns, route })),
  ];
}

function sysctlOps(want: LabState, have: LabState): Op[] {
  return Object.entries(want.sysctls)
    .filter(([key, value]) => have.sysctls[key] !== value)
    .map(([key, value]) => ({ kind: 'sysctl.set', key, value }));
}

/** The /etc files and UTS namespaces: written, then (`make`); removed (`remove`). */
function fileOps(want: LabState, have: LabState): { make: Op[]; remove: Op[] } {
  const make: Op[] = [];
  for (const [path, content] of Object.entries(want.files)) {
    if (have.files[path] === content) continue;
    const pieces = want.filePieces?.[path];
    make.push(pieces ? { kind: 'file.write', path, content, pieces } : { kind: 'file.write', path, content });
  }
  for (const [path, hostname] of Object.entries(want.uts)) if (have.uts[path] !== hostname) make.push({ kind: 'uts.add', path, hostname });
  const remove: Op[] = [
    ...Object.keys(have.files)
      .filter((path) => !(path in want.files))
      .map((path): Op => ({ kind: 'file.del', path })),
    ...Object.keys(have.uts)
      .filter((path) => !(path in want.uts))
      .map((path): Op => ({ kind: 'uts.del', path })),
  ];
  return { make, remove };
}

/** Mount namespaces: made after the /etc files, which they bind. */
function mountOps(want: LabState, have: LabState, freshMnt: Set<string>): { make: Op[]; remove: Op[] } {
  const remove = Object.keys(have.mnts)
    .filter((path) => !want.mnts[path] || freshMnt.has(path))
    .map((path): Op => ({ kind: 'mnt.del', path }));
  const make = [...freshMnt].map((path): Op => {
    const w = want.mnts[path]!;
    return { kind: 'mnt.add', path, ns: w.ns, script: w.script ?? [], fstab: w.fstab ?? '', volumes: w.volumes ?? [], hash: w.hash };
  });
  return { make, remove };
}

/** The /etc/netns folder of every namespace that is not wanted, also when the namespace itself is already gone. */
function goneEtcDirs(want: LabState, have: LabState): Set<string> {
  return new Set([...Object.keys(have.files).map((f) => dirname(f)), ...(have.etcDirs ?? [])].filter((d) => !want.namespaces[basename(d)]));
}

/** OVS bridges that go take their ports with them; they go before the Linux bridges they plug into. */
function ovsGone(want: LabState, have: LabState): Op[] {
  return Object.keys(have.ovs ?? {})
    .filter((b) => !want.ovs?.[b])
    .map((bridge) => ({ kind: 'ovs.bridge.del', bridge }));
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

const sortedJson = (o: Record<string, string>) => JSON.stringify(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));

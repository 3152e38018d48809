/**
 * desired − observed → Ops, in an order the kernel accepts: stop, remove, create, configure,
 * start. Only objects of the lab appear in `observed` (the observer filters by ownership
 * marks), so nothing else can ever be deleted. Equal states give no Ops.
 */
import { basename, dirname } from 'node:path';
import type { Op } from './ops.js';
import type { FirewallState, HostLinkState, IfaceState, LabState, NamespaceState } from './state.js';

export function diff(want: LabState, have: LabState): Op[] {
  const stop: Op[] = [];
  const remove: Op[] = [];
  const addNs: Op[] = [];
  const hostLinks: Op[] = [];
  const nsOps: Op[] = [];
  const config: Op[] = [];
  const firewall: Op[] = [];
  const start: Op[] = [];

  // Processes: (re)start what is not running or was started with another spec.
  for (const [name, p] of Object.entries(have.processes)) {
    const w = want.processes[name];
    const restart = w && (!p.running || (p.specHash !== undefined && p.specHash !== w.specHash));
    if (p.pids.length > 0 && (!w || restart)) stop.push({ kind: 'process.stop', container: name, ns: p.ns, pids: p.pids });
  }
  for (const [name, w] of Object.entries(want.processes)) {
    const p = have.processes[name];
    const namespaceNew = !have.namespaces[w.ns];
    if (!p || !p.running || namespaceNew || (p.specHash !== undefined && p.specHash !== w.specHash)) {
      start.push({ kind: 'process.start', container: name, ns: w.ns, uts: w.uts, log: w.log, spec: w.spec!, specHash: w.specHash! });
    }
  }

  // Namespaces that go: their veths, the namespace, its /etc files.
  for (const ns of Object.keys(have.namespaces)) {
    if (want.namespaces[ns]) continue;
    remove.push({ kind: 'netns.del', ns });
  }

  // Host links: bridges before veths, so a veth's master exists.
  const recreatedPeers = new Set<string>();
  const ordered = Object.entries(want.hostLinks).sort(([, a], [, b]) => (a.kind === 'bridge' ? 0 : 1) - (b.kind === 'bridge' ? 0 : 1));
  for (const [name, h] of Object.entries(have.hostLinks)) {
    const w = want.hostLinks[name];
    if (!w || w.kind !== h.kind || (w.kind === 'veth' && !vethIntact(w, h, have))) {
      remove.unshift({ kind: 'link.del', name });
      if (w?.peer) recreatedPeers.add(`${w.peer.ns}/${w.peer.name}`);
    }
  }
  for (const [name, w] of ordered) {
    const h0 = have.hostLinks[name];
    const fresh = !h0 || remove.some((o) => o.kind === 'link.del' && o.name === name);
    const h: HostLinkState = fresh ? { kind: w.kind, mtu: 0, up: false, addrs: [] } : h0;
    if (fresh) {
      if (w.kind === 'bridge') hostLinks.push({ kind: 'bridge.add', name, mtu: w.mtu });
      else if (w.kind === 'veth' && w.peer) {
        hostLinks.push({ kind: 'veth.add', name, mtu: w.mtu, peer: { ns: w.peer.ns, name: w.peer.name } });
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
    if (w.up && !h.up) hostLinks.push({ kind: 'link.set', name, up: true });
  }

  // Inside each namespace: lo, interfaces, addresses, routes.
  for (const [ns, w] of Object.entries(want.namespaces)) {
    const h0 = have.namespaces[ns];
    if (!h0) addNs.push({ kind: 'netns.add', ns });
    const h: NamespaceState = h0 ?? { loUp: false, ifaces: {}, routes: [] };
    if (w.mark !== h.mark) nsOps.push({ kind: 'link.set', ns, name: 'lo', alias: w.mark });
    if (w.loUp && !h.loUp) nsOps.push({ kind: 'link.set', ns, name: 'lo', up: true });
    for (const [ifname, wi] of Object.entries(w.ifaces)) {
      const hi: IfaceState = recreatedPeers.has(`${ns}/${ifname}`) || !h.ifaces[ifname] ? { mac: '', mtu: 0, up: false, addrs: [] } : h.ifaces[ifname]!;
      const set: Extract<Op, { kind: 'link.set' }> = { kind: 'link.set', ns, name: ifname };
      if (wi.mac !== hi.mac) set.mac = wi.mac;
      if (wi.mtu !== hi.mtu && hi.mtu !== 0) set.mtu = wi.mtu;
      if (Object.keys(set).length > 3) nsOps.push(set);
      addrOps(ifname, wi.addrs, hi.addrs, ns, nsOps);
      if (wi.up && !hi.up) nsOps.push({ kind: 'link.set', ns, name: ifname, up: true });
    }
    const fresh = (r: string) => [...recreatedPeers].some((p) => p.startsWith(`${ns}/`) && r.endsWith(` dev ${p.slice(ns.length + 1)}`));
    for (const r of w.routes) if (!h.routes.includes(r) || fresh(r)) nsOps.push({ kind: 'route.replace', ns, route: r });
    for (const r of h.routes) if (!w.routes.includes(r)) nsOps.push({ kind: 'route.del', ns, route: r });
  }

  for (const [key, value] of Object.entries(want.sysctls)) if (have.sysctls[key] !== value) config.push({ kind: 'sysctl.set', key, value });
  for (const [path, content] of Object.entries(want.files)) if (have.files[path] !== content) config.push({ kind: 'file.write', path, content });
  for (const path of Object.keys(have.files)) if (!(path in want.files)) remove.push({ kind: 'file.del', path });
  for (const [path, hostname] of Object.entries(want.uts)) if (have.uts[path] !== hostname) config.push({ kind: 'uts.add', path, hostname });
  for (const path of Object.keys(have.uts)) if (!(path in want.uts)) remove.push({ kind: 'uts.del', path });

  if (want.firewall && !sameFirewall(want.firewall, have.firewall)) firewall.push({ kind: 'firewall.apply', lab: want.lab, want: want.firewall, have: have.firewall });
  if (!want.firewall && have.firewall && !emptyFirewall(have.firewall)) firewall.unshift({ kind: 'firewall.remove', lab: have.lab, have: have.firewall });

  const removeFw = firewall.filter((o) => o.kind === 'firewall.remove');
  const applyFw = firewall.filter((o) => o.kind === 'firewall.apply');
  // The /etc/netns folder of every namespace that is not wanted, also when the namespace itself is already gone.
  const goneDirs = new Set([...Object.keys(have.files).map((f) => dirname(f)), ...(have.etcDirs ?? [])].filter((d) => !want.namespaces[basename(d)]));
  return [...stop, ...removeFw, ...sortRemovals(remove, goneDirs), ...addNs, ...hostLinks, ...nsOps, ...config, ...applyFw, ...start];
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
 * Links before namespaces (deleting the host end of a veth removes its peer at once, while a
 * namespace is torn down asynchronously), files before the /etc/netns folder of a namespace that goes.
 */
function sortRemovals(ops: Op[], goneDirs: Set<string>): Op[] {
  const rank = (o: Op) => ({ 'link.del': 0, 'netns.del': 1, 'uts.del': 2, 'file.del': 3 })[o.kind as string] ?? 4;
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
    if (byChain(x.rules).join('\n') !== byChain(y.rules).join('\n')) return false;
  }
  return true;
}

function emptyFirewall(f: FirewallState): boolean {
  return Object.values(f.tables).every((t) => t.chains.length === 0 && t.jumps.length === 0 && t.rules.length === 0);
}

/** Rules grouped by chain (a stable sort keeps each chain's order), as iptables-save may list chains in any order. */
function byChain(rules: string[]): string[] {
  const chainOf = (r: string) => r.split(' ', 2)[1] ?? '';
  return [...rules].sort((a, b) => chainOf(a).localeCompare(chainOf(b)));
}

/** Lab → the kernel state it needs (pure). */
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { Lab, LabContainer, LabHost, LabInterface, LabNetwork } from '../model/lab.js';
import { containerPortOf } from '../model/ports.js';
import { mark, ovsName, vxlanName } from '../model/names.js';
import { formatIp } from '../model/ipv4.js';
import { labRuleset, type DnatTarget, type Rule, type Ruleset } from '../model/firewall.js';
import { ruleFamily } from '../model/firewall6.js';
import { ipOf } from '../model/nft-text.js';
import { chainOf, renderIptables, ruleText } from '../model/iptables-rules.js';
import { nftRuleText, renderNft } from '../model/nft-rules.js';
import { ctrDir, etcNetnsDir, logPath, mntPath, utsPath } from '../paths.js';
import { containerFstab, mountScript } from '../model/mounts.js';
import { fstabFileOf } from '../kernel/mnt.js';
import { DEFAULT_TMPFS, lookupUser, type ContainerRuntime } from '../topology/runtime.js';
import { emptyState, type IfaceState, type FirewallState, type FirewallTable, type LabState, type OvsBridgeState, type ProcessSpec } from './state.js';

export interface DesiredOptions {
  /** How to run netlab itself, for commands that start with `netlab` (the built-in server). */
  selfArgv: string[];
  /** Open vSwitch datapath: `system` with the kernel module, `netdev` (userspace) without it. */
  ovsDatapath?: 'system' | 'netdev';
  /** The kernel has IPv6: the containers' interfaces then get it turned off, as Docker does for an IPv4-only endpoint. */
  ipv6?: boolean;
}

/** The kernel state of the lab's share on `lab.host` (the whole lab on a single host). */
export function desiredState(lab: Lab, opts: DesiredOptions): LabState {
  const s = emptyState(lab.name);
  const multi = lab.hosts.length > 0;
  const local = lab.containers.filter((c) => !multi || c.host === lab.host);
  const usedHere = new Set(local.flatMap((c) => c.interfaces.map((i) => i.network)));
  // A multi-host lab builds on each host only the networks its containers use there.
  const networks = multi ? lab.networks.filter((n) => usedHere.has(n.name)) : lab.networks;
  addForwarding(s, networks);
  const self = lab.hosts.find((h) => h.name === lab.host);
  for (const net of networks) addNetwork(s, lab, net, self, opts);
  const internal = new Set(lab.networks.filter((n) => n.internal).map((n) => n.name));
  const own = netlabPaths(opts.selfArgv);
  for (const c of local) addContainer(s, lab, c, internal, opts, own);
  const rs = labRuleset({ ...lab, networks }, local);
  s.firewall = lab.firewall === 'nftables' ? { backend: 'nftables', tables: renderNft(rs) } : { backend: 'iptables', tables: renderIptables(rs).tables };
  const udpDnat = udpDnatRules(lab, rs, local, s.firewall.tables);
  if (udpDnat.length > 0) s.firewall.udpDnat = udpDnat;
  return s;
}

/** The host's forwarding sysctls: IPv4 always, bridged traffic through the firewall, IPv6 with an IPv6 network. */
function addForwarding(s: LabState, networks: LabNetwork[]): void {
  s.sysctls['net.ipv4.ip_forward'] = '1';
  // Bridged traffic must pass the firewall: icc false and the link rules, hairpin NAT and the
  // isolation of networks do nothing without it (moby#12071). Docker sets it too whenever its
  // userland proxy is off, which is netlab's only mode. Needs br_netfilter loaded.
  if (networks.length > 0) s.sysctls['net.bridge.bridge-nf-call-iptables'] = '1';
  // Docker turns IPv6 forwarding on for its IPv6 networks, as it does ip_forward for IPv4; IPv6
  // frames must pass ip6tables as IPv4 ones pass iptables (icc, links, isolation).
  if (networks.some((n) => n.ipv6)) {
    s.sysctls['net.ipv6.conf.all.forwarding'] = '1';
    s.sysctls['net.bridge.bridge-nf-call-ip6tables'] = '1';
  }
}

/** A network's bridge with its gateways, its sysctls, and its overlay to the other hosts. */
function addNetwork(s: LabState, lab: Lab, net: LabNetwork, self: LabHost | undefined, opts: DesiredOptions): void {
  s.hostLinks[net.bridge] = {
    kind: 'bridge',
    alias: mark.bridge(lab.name, net.name),
    mtu: net.mtu,
    up: true,
    addrs: [...(net.ipv4 === false ? [] : [`${formatIp(net.gateway)}/${net.subnet.prefix}`]), ...(net.ipv6 ? [`${net.ipv6.gateway}/${net.ipv6.prefix}`] : [])],
  };
  // Lets DNAT from the host's 127.0.0.1 leave through the bridge (`curl localhost:8080`).
  s.sysctls[`net.ipv4.conf.${net.bridge}.route_localnet`] = '1';
  // The gateway routes: it takes no router advertisement, as Docker sets on its bridges.
  if (net.ipv6) s.sysctls[`net.ipv6.conf.${net.bridge}.accept_ra`] = '0';
  if (self && (net.vxlan || net.driver === 'ovs')) addOverlay(s, lab, net, self, opts);
}

/** A container: its namespace and veth pairs, /etc files, UTS and mount namespaces, and its command. */
function addContainer(s: LabState, lab: Lab, c: LabContainer, internal: Set<string>, opts: DesiredOptions, own: string[]): void {
  const multi = lab.hosts.length > 0;
  s.namespaces[c.netns] = {
    mark: mark.netns(lab.name, c.name, multi ? c.host : undefined),
    loUp: true,
    ifaces: Object.fromEntries(c.interfaces.map((i) => [i.ifname, ifaceState(i, !!opts.ipv6)])),
    routes: defaultRoutes(c.interfaces.filter((i) => !internal.has(i.network))),
  };
  for (const i of c.interfaces) {
    s.hostLinks[i.hostVeth] = {
      kind: 'veth',
      alias: mark.veth(lab.name, c.name, i.network),
      mtu: i.mtu,
      up: true,
      master: i.bridge,
      // With bridge-nf-call-iptables, a DNATed packet goes back out the port it came in on.
      hairpin: true,
      addrs: [],
      peer: { ns: c.netns, name: i.ifname, mac: i.mac },
    };
  }
  const etc = etcNetnsDir(c.netns);
  addEtcFiles(s, c, etc);
  const uts = utsPath(lab.name, c.name);
  s.uts[uts] = c.hostname;
  const mnt = mntPath(lab.name, c.name);
  const mntHash = addMountNamespace(s, c, etc, mnt, own);
  if (c.command !== undefined) {
    const spec = processSpec(c.command, containerEnvOf(c), opts.selfArgv, c.runtime);
    // Other mounts restart the command too: it runs in the namespace made anew.
    s.processes[c.name] = { running: true, pids: [], spec, specHash: specHash(spec, mntHash), ns: c.netns, uts, mnt, dir: ctrDir(lab.name, c.name), log: logPath(lab.name, c.name) };
  }
}

/** The container's /etc/hosts (with its pieces, when known), resolv.conf and hostname under /etc/netns. */
function addEtcFiles(s: LabState, c: LabContainer, etc: string): void {
  s.files[join(etc, 'hosts')] = c.files.hosts;
  if (c.hostsPieces) (s.filePieces ??= {})[join(etc, 'hosts')] = c.hostsPieces;
  s.files[join(etc, 'resolv.conf')] = c.files.resolv;
  s.files[join(etc, 'hostname')] = c.files.hostname;
}

/** The container's mount namespace (fstab and mount script); returns its hash, which the command's spec hash includes. */
function addMountNamespace(s: LabState, c: LabContainer, etc: string, mnt: string, own: string[]): string {
  const runtime = withNetlabVisible(c.runtime, own);
  const fstab = containerFstab(etc, runtime);
  const script = mountScript(fstabFileOf(mnt), runtime);
  const mntHash = createHash('sha256')
    .update(fstab + script.join('\n'))
    .digest('hex')
    .slice(0, 16);
  s.mnts[mnt] = { ns: c.netns, hash: mntHash, script, fstab, volumes: (runtime?.volumes ?? []).map((v) => v.source) };
  return mntHash;
}

/**
 * A container interface: its addresses of both families, IPv6 on only where it has an IPv6
 * address (Docker turns it off on an IPv4-only endpoint); an IPv6 address with nodad (the plan's
 * executors add it so) is usable as soon as the interface is up.
 */
function ifaceState(i: LabInterface, kernelIpv6: boolean): IfaceState {
  const addrs = [...(i.ip ? [`${i.ip}/${i.prefix}`] : []), ...(i.ip6 ? [`${i.ip6}/${i.prefix6}`] : [])];
  return { mac: i.mac, mtu: i.mtu, up: true, addrs, ...(kernelIpv6 ? { ipv6Disabled: !i.ip6 } : {}), ...(i.impair ? { impair: i.impair } : {}) };
}

/** The default route of each family, via the first routed (not internal) interface that has that family. */
function defaultRoutes(routed: LabInterface[]): string[] {
  const v4 = routed.find((i) => i.ip);
  const v6 = routed.find((i) => i.ip6);
  return [...(v4 ? [`default via ${v4.gateway} dev ${v4.ifname}`] : []), ...(v6 ? [`default via ${v6.gateway6} dev ${v6.ifname}`] : [])];
}

/**
 * Joins this host's bridge of an overlay network to the other hosts that use it: a VXLAN
 * device flooding to every remote VTEP (head-end replication, no multicast), or an Open vSwitch
 * bridge with one VXLAN port per remote host, plugged into the Linux bridge.
 */
function addOverlay(s: LabState, lab: Lab, net: LabNetwork, self: LabHost, opts: DesiredOptions): void {
  const remotes = lab.hosts.filter((h) => h.name !== self.name && lab.containers.some((c) => c.host === h.name && c.interfaces.some((i) => i.network === net.name)));
  if (net.driver === 'bridge' && net.vxlan) {
    const port = linuxVxlanPort(lab, net.vxlan.port);
    s.hostLinks[vxlanName(lab.name, net.name)] = {
      kind: 'vxlan',
      alias: mark.vxlan(lab.name, net.name),
      mtu: net.mtu,
      up: true,
      master: net.bridge,
      addrs: [],
      vxlan: { vni: net.vxlan.vni, port, local: self.underlay },
      fdb: remotes.map((r) => r.underlay),
    };
    return;
  }
  if (net.driver !== 'ovs') return;
  const plug = ovsName.plug(lab.name, net.name);
  const ports: OvsBridgeState['ports'] = { [plug]: { type: 'internal', options: {}, master: net.bridge, mtu: net.mtu } };
  const flows: string[] = [];
  if (net.vxlan) {
    for (const r of remotes) {
      const tunnel = ovsName.tunnel(lab.name, net.name, r.name);
      ports[tunnel] = { type: 'vxlan', options: { remote_ip: r.underlay, key: String(net.vxlan.vni), dst_port: String(net.vxlan.port) } };
      // Split horizon: what arrives from a tunnel goes only to this host, so a full mesh of three or more hosts has no loop.
      flows.push(`priority=100,in_port=${tunnel} actions=output:${plug}`);
    }
  }
  s.ovs ??= {};
  s.ovs[ovsName.bridge(lab.name, net.name)] = { datapath: opts.ovsDatapath ?? 'netdev', ports, flows };
}

/**
 * Open vSwitch's userspace datapath takes every VXLAN packet sent to its tunnel address on a
 * port it listens on, whatever the VNI, so a Linux VXLAN device on the same port never sees its
 * own. A Linux-VXLAN network therefore moves to the next port no OVS network of the lab uses;
 * on every datapath alike, and from the file alone, so that all hosts agree.
 */
export function linuxVxlanPort(lab: Lab, port: number): number {
  const ovsPorts = new Set(lab.networks.filter((n) => n.driver === 'ovs' && n.vxlan).map((n) => n.vxlan!.port));
  while (ovsPorts.has(port)) port++;
  return port;
}

/** A string is Docker's shell form (`sh -c`); `netlab ...` runs this very netlab. */
export function processSpec(command: string | string[], env: [string, string][], selfArgv: string[], runtime?: ContainerRuntime): ProcessSpec {
  const argv = typeof command === 'string' ? ['/bin/sh', '-c', command] : command[0] === 'netlab' ? [...selfArgv, ...command.slice(1)] : [...command];
  const spec: ProcessSpec = { argv, env };
  const user = runtime?.user !== undefined ? lookupUser(runtime.user) : undefined;
  if (user) spec.user = { uid: user.uid, gid: user.gid, ...(user.name ? { name: user.name } : {}) };
  if (runtime?.workdir) spec.workdir = runtime.workdir;
  if (runtime && runtime.restart.policy !== 'no') spec.restart = runtime.restart;
  if (runtime?.health) spec.health = runtime.health;
  return spec;
}

/**
 * The environment of every process of a container, as Docker gives it: HOSTNAME, HOME (the
 * user's, from the host's passwd), then the link variables and its own `env`.
 */
export function containerEnvOf(c: { hostname: string; env: [string, string][]; runtime?: ContainerRuntime }): [string, string][] {
  const home = c.runtime?.user !== undefined ? (lookupUser(c.runtime.user)?.home ?? '/') : '/root';
  return [['HOSTNAME', c.hostname], ['HOME', home], ...c.env];
}

export function specHash(spec: ProcessSpec, mntHash = ''): string {
  return createHash('sha256')
    .update(JSON.stringify(spec) + mntHash)
    .digest('hex')
    .slice(0, 16);
}

/**
 * Each UDP DNAT with the rule text that carries it, as the backend lists it in
 * FirewallState.rules (with nftables, the map of its address), to tell a new one from an old one.
 */
function udpDnatRules(lab: Lab, rs: Ruleset, local: Lab['containers'], tables: Record<string, FirewallTable>): NonNullable<FirewallState['udpDnat']> {
  const chainName = chainOf(lab.name, 'dnat');
  const rendered = Object.values(tables).flatMap((t) => t.rules);
  const carrier = (r: Rule): string => {
    if (lab.firewall !== 'nftables') return `-A ${chainName} ${ruleText(lab.name, r)}`;
    const own = `${chainName} ${nftRuleText(lab.name, r)}`;
    if (rendered.includes(own)) return own;
    const ip = ipOf((r.target as DnatTarget).ip);
    const match = nftRuleText(lab.name, { dst: r.dst, target: { kind: 'ACCEPT' } }).replace(/accept comment .*$/, '');
    const head = `${chainName} ${match}dnat ${ip} to udp dport map `;
    return rendered.find((t) => t.startsWith(head)) ?? own;
  };
  return rs.chains.dnat
    .filter((r) => r.proto === 'udp' && r.dport !== undefined)
    .map((r) => ({
      port: r.dport!,
      ...(r.dportEnd !== undefined ? { portEnd: r.dportEnd } : {}),
      rule: carrier(r),
      netns: local.find((c) => c.ports.some((p) => containerPortOf(p, r.dport!, 'udp') !== undefined))!.netns,
      ...(ruleFamily(r) === 6 ? { family: 6 as const } : {}),
    }));
}

/** netlab's own folder (the clone's) and node's, each once: the same for every container of the lab. */
function netlabPaths(selfArgv: string[]): string[] {
  if (selfArgv.length < 2) return [];
  return [dirname(dirname(dirname(selfArgv[1]!))), dirname(selfArgv[0]!)].filter((p, i, all) => all.indexOf(p) === i);
}

/**
 * netlab's own folder and node's stay visible in every container (`command: [netlab, serve]`,
 * a tool of the clone's): where a private tmpfs would hide them (a clone in /tmp), they are bound
 * back read-only at the same path.
 */
function withNetlabVisible(runtime: ContainerRuntime | undefined, netlab: string[]): ContainerRuntime | undefined {
  if (netlab.length === 0) return runtime;
  const hidden = [...DEFAULT_TMPFS, ...(runtime?.tmpfs ?? [])].map((t) => t.target);
  const under = (p: string) => hidden.some((h) => p === h || p.startsWith(`${h}/`));
  const own = netlab.filter(under);
  if (own.length === 0) return runtime;
  const base: ContainerRuntime = runtime ?? { tmpfs: [], volumes: [], restart: { policy: 'no' } };
  return { ...base, volumes: [...base.volumes, ...own.map((p) => ({ source: p, target: p, readOnly: true, at: { path: 'netlab itself' } }))] };
}

/**
 * `explain`: the Ops that build a lab, grouped by what they build (the host, each network's
 * bridge, each container, the firewall), each group with the Docker concept it reproduces.
 * Pure: the commands come from render.ts, so the text cannot drift from what the engine runs.
 */
import { portRuns, spanText, type PortRun } from '../model/port-runs.js';
import { basename } from 'node:path';
import type { Lab, LabContainer, LabHost, LabNetwork } from '../model/lab.js';
import { formatCidr, formatIp } from '../model/ipv4.js';
import { envAlias, ovsName, vxlanName } from '../model/names.js';
import type { Op } from './ops.js';
import { planSteps, stepOps } from './steps.js';
import { renderOp, shellQuote } from './render.js';
import { firewallWhy6 } from './explain-firewall6.js';
import { container6Why, host6Why, network6Why } from './explain6.js';
import { hostIpText } from '../model/ports.js';
import { subnetsText } from '../model/lab6.js';
import { impairWhy } from './explain-impair.js';

/** What a group of Ops builds. New kinds (hosts, overlays) add a variant here and a `why`. */
export type Subject =
  | { kind: 'host' }
  | { kind: 'network'; network: string }
  /** A multi-host network's tunnel: a VXLAN device and its FDB, or an Open vSwitch bridge with VXLAN ports. */
  | { kind: 'overlay'; network: string }
  | { kind: 'container'; container: string }
  | { kind: 'firewall' }
  /** The lab's embedded DNS resolver (src/dns/explain.ts). */
  | { kind: 'dns' }
  /** The lab's IPv6 loopback proxy (src/proxy/explain.ts). */
  | { kind: 'proxy' }
  | { kind: 'other' };

export interface ExplainSection {
  subject: Subject;
  title: string;
  /** Why, in Docker's terms: one line per concept. */
  why: string[];
  ops: Op[];
  commands: string[];
}

/** Which part of the lab an Op builds (or removes). */
export function subjectOf(op: Op, lab: Lab): Subject {
  const byNs = (ns: string | undefined) => lab.containers.find((c) => c.netns === ns);
  const byBridge = (name: string) => lab.networks.find((n) => n.bridge === name);
  const byVeth = (name: string) => lab.containers.find((c) => c.interfaces.some((i) => i.hostVeth === name));
  const container = (c: LabContainer | undefined): Subject | undefined => (c ? { kind: 'container', container: c.name } : undefined);
  const network = (n: LabNetwork | undefined): Subject | undefined => (n ? { kind: 'network', network: n.name } : undefined);
  const overlay = (name: string): Subject | undefined => {
    const n = lab.networks.find((x) => vxlanName(lab.name, x.name) === name || ovsName.bridge(lab.name, x.name) === name || ovsName.plug(lab.name, x.name) === name);
    return n ? { kind: 'overlay', network: n.name } : undefined;
  };
  switch (op.kind) {
    case 'netns.add':
    case 'netns.del':
    case 'netns.sysctl':
      return container(byNs(op.ns)) ?? { kind: 'other' };
    case 'bridge.add':
      return network(byBridge(op.name)) ?? { kind: 'other' };
    case 'veth.add':
      return container(byNs(op.peer.ns)) ?? { kind: 'other' };
    case 'link.set':
    case 'link.del':
      return (op.ns ? container(byNs(op.ns)) : (network(byBridge(op.name)) ?? container(byVeth(op.name)) ?? overlay(op.name))) ?? { kind: 'other' };
    case 'vxlan.add':
      return overlay(op.name) ?? { kind: 'other' };
    case 'fdb.append':
    case 'fdb.del':
      return overlay(op.dev) ?? { kind: 'other' };
    case 'ovs.bridge.add':
    case 'ovs.bridge.del':
    case 'ovs.port.add':
    case 'ovs.port.del':
    case 'ovs.flows':
      return overlay(op.bridge) ?? { kind: 'other' };
    case 'ovs.plug':
      return overlay(op.port) ?? { kind: 'other' };
    case 'addr.add':
    case 'addr.del':
      return (op.ns ? container(byNs(op.ns)) : (network(byBridge(op.dev)) ?? container(byVeth(op.dev)))) ?? { kind: 'other' };
    case 'route.replace':
    case 'route.del':
      return (op.ns ? container(byNs(op.ns)) : undefined) ?? { kind: 'host' };
    case 'sysctl.set': {
      const dev = /^net\.ipv[46]\.conf\.([^.]+)\./.exec(op.key)?.[1];
      return (dev ? (network(byBridge(dev)) ?? container(byVeth(dev))) : undefined) ?? { kind: 'host' };
    }
    case 'file.write':
    case 'file.del':
      return container(lab.containers.find((c) => op.path.includes(`/${c.netns}/`) || op.path.endsWith(`/${c.netns}`))) ?? { kind: 'other' };
    case 'uts.add':
    case 'uts.del':
    case 'mnt.add':
    case 'mnt.del':
      return container(lab.containers.find((c) => c.name === basename(op.path))) ?? { kind: 'other' };
    case 'firewall.apply':
    case 'firewall.remove':
    case 'conntrack.flush':
      return { kind: 'firewall' };
    case 'process.start':
    case 'process.stop':
      return container(lab.containers.find((c) => c.name === op.container)) ?? { kind: 'other' };
    case 'tc.set':
      return container(byNs(op.ns)) ?? { kind: 'other' };
  }
  return { kind: 'other' };
}

const keyOf = (s: Subject) => `${s.kind}:${'network' in s ? s.network : 'container' in s ? s.container : ''}`;

const overlayOf = (n: LabNetwork) => n.vxlan !== undefined || n.driver === 'ovs';

/**
 * Groups the Ops of a plan built from nothing. Groups come in the order host, networks,
 * containers, firewall, other, which keeps every dependency of a from-scratch plan (a bridge
 * before the veths it holds, a namespace before its interfaces); Ops keep their order inside a group.
 */
export function explainSections(lab: Lab, ops: Op[]): ExplainSection[] {
  const order: Subject[] = [
    { kind: 'host' },
    ...lab.networks.map((n) => ({ kind: 'network' as const, network: n.name })),
    // After the bridges: a VXLAN device or an OVS plug port is enslaved to its network's bridge.
    ...lab.networks.filter(overlayOf).map((n) => ({ kind: 'overlay' as const, network: n.name })),
    ...lab.containers.map((c) => ({ kind: 'container' as const, container: c.name })),
    { kind: 'firewall' },
    { kind: 'other' },
  ];
  const groups = new Map<string, Op[]>(order.map((s) => [keyOf(s), []]));
  // In the order of the steps apply runs (plan/steps.ts).
  for (const op of stepOps(planSteps(ops))) groups.get(keyOf(subjectOf(op, lab)))!.push(op);
  return order
    .filter((s) => groups.get(keyOf(s))!.length > 0)
    .map((subject) => {
      const group = groups.get(keyOf(subject))!;
      return { subject, title: titleOf(subject, lab), why: whyOf(subject, lab, group), ops: group, commands: group.map(renderOp) };
    });
}

export function titleOf(s: Subject, lab: Lab): string {
  switch (s.kind) {
    case 'host':
      return 'the host';
    case 'network': {
      const n = lab.networks.find((x) => x.name === s.network)!;
      return `network ${n.name}: bridge ${n.bridge}, ${subnetsText(n)}`;
    }
    case 'overlay': {
      const n = lab.networks.find((x) => x.name === s.network)!;
      return n.driver === 'ovs'
        ? `overlay ${n.name}: Open vSwitch bridge ${ovsName.bridge(lab.name, n.name)}${n.vxlan ? `, VXLAN VNI ${n.vxlan.vni}` : ''}`
        : `overlay ${n.name}: VXLAN device ${vxlanName(lab.name, n.name)}, VNI ${n.vxlan!.vni}`;
    }
    case 'container': {
      const c = lab.containers.find((x) => x.name === s.container)!;
      return `container ${c.name}: ${c.interfaces.map((i) => [i.ifname, i.ip, i.ip6 ?? ''].filter(Boolean).join(' ')).join(', ')}`;
    }
    case 'firewall':
      return lab.firewall === 'nftables' ? `firewall: chains NL-${lab.name}-* in table inet netlab` : `firewall: iptables chains NL-${lab.name}-*`;
    case 'dns':
      return 'the embedded DNS at 127.0.0.11';
    case 'proxy':
      return 'the IPv6 loopback proxy at [::1]';
    case 'other':
      return 'other';
  }
}

/** Docker's `-p` flag for a run of published ports: `8080:80`, `127.0.0.1:8080:80`, `[::1]:8080:80`, `5353:53/udp`, `10000-10999:10000-10999`. */
export function dockerPublishFlag(r: PortRun): string {
  return `-p ${r.hostIp !== '0.0.0.0' ? `${hostIpText(r.hostIp)}:` : ''}${spanText(r.host)}:${spanText(r.container)}${r.proto !== 'tcp' ? `/${r.proto}` : ''}`;
}

function whyOf(s: Subject, lab: Lab, ops: Op[]): string[] {
  switch (s.kind) {
    case 'host':
      return ['Docker turns on IP forwarding (dockerd --ip-forward, on by default) so that the host routes packets between its bridges and the outside world.', ...host6Why(ops)];
    case 'network':
      return networkWhy(lab, lab.networks.find((x) => x.name === s.network)!, ops);
    case 'overlay':
      return overlayWhy(lab, lab.networks.find((x) => x.name === s.network)!, ops);
    case 'container':
      return containerWhy(lab, lab.containers.find((x) => x.name === s.container)!, ops);
    case 'firewall':
      return firewallWhy(lab);
    case 'dns':
      return ["The lab's embedded DNS resolver (src/dns/explain.ts says why)."];
    case 'proxy':
      return ["The lab's IPv6 loopback proxy (src/proxy/explain.ts says why)."];
    case 'other':
      return ['Steps that belong to no single part of the lab.'];
  }
}

/** A network: the bridge that docker0 is, and what a multi-host network adds. */
function networkWhy(lab: Lab, n: LabNetwork, ops: Op[]): string[] {
  const gateway = n.ipv4 === false ? `the IPv6 gateway ${n.ipv6!.gateway}/${n.ipv6!.prefix} of ${n.ipv6!.subnet}` : `the gateway ${formatIp(n.gateway)}/${n.subnet.prefix} of ${formatCidr(n.subnet)}`;
  const out = [`This is what docker0 is: a Linux bridge (a virtual switch) named ${n.bridge}, holding ${gateway}; each container on network "${n.name}" plugs one end of a veth pair into it.`];
  out.push(...network6Why(n));
  if (ops.some((o) => o.kind === 'sysctl.set' && o.key.endsWith('.route_localnet'))) {
    out.push("route_localnet=1 lets traffic DNATed from the host's own 127.0.0.1 leave through the bridge, as Docker sets it when its userland proxy is off (curl localhost:PORT).");
  }
  if (lab.hosts.length > 0 && overlayOf(n)) {
    const gws = lab.hosts.filter((h) => n.gateways[h.name] !== undefined).map((h) => `${formatIp(n.gateways[h.name]!)} on ${h.name}`);
    out.push(
      `One subnet spans the hosts, as a Docker overlay network's does: each host's bridge has its own gateway (${gws.join(', ')}) and no container address is handed out twice, so containers on different hosts talk as if on one switch.`,
    );
  }
  return out;
}

/** A container: its namespaces, veth, /etc files, links and command. */
function containerWhy(lab: Lab, c: LabContainer, ops: Op[]): string[] {
  const out = c.interfaces.map(
    (i) =>
      `This is what docker run --name ${c.name} does to the network: a network namespace ${c.netns} (Docker's sandbox), a veth pair with ${i.ifname} inside (${i.ip}/${i.prefix}, MAC ${i.mac} made from the address as Docker <= 27 does) and ${i.hostVeth} plugged into ${i.bridge}, and a default route via the gateway ${i.gateway}.`,
  );
  out.push(...container6Why(c, ops));
  if (ops.some((o) => o.kind === 'netns.sysctl' && o.key.endsWith('.disable_ipv6') && o.value === '1')) {
    out.push(
      'disable_ipv6=1 on its interfaces, as Docker sets it on an endpoint that has no IPv6 address: without it each interface would send IPv6 neighbour discovery and MLD packets as it comes up, which the bridge floods to every other container.',
    );
  }
  if (ops.some((o) => o.kind === 'link.set' && o.hairpin))
    out.push('hairpin on, on the bridge port, lets a container reach its own published port through the host, as Docker sets it when its userland proxy is off.');
  out.push(`Its /etc/hosts, resolv.conf and hostname live in /etc/netns/${c.netns}/; a UTS namespace gives it the hostname ${c.hostname} (docker run --hostname).`);
  const own = [...(c.runtime?.tmpfs.map((t) => `--tmpfs ${t.target}`) ?? []), ...(c.runtime?.volumes.map((v) => `-v ${v.source}:${v.target}${v.readOnly ? ':ro' : ''}`) ?? [])];
  out.push(
    `A mount namespace of its own, kept on a file like the others, binds those three files over /etc (as Docker binds its copies) and gives it a private /run, /tmp and /var/tmp${own.length ? ` and ${own.join(', ')}` : ''}; the rest of the file system is the host's (netlab is a networking lab, not a sandbox). Its command, exec and shell run inside it.`,
  );
  for (const l of c.links) {
    const port = lab.containers.find((x) => x.name === l.target)?.expose[0];
    const vars = port ? `${envAlias(l.alias)}_PORT_${port.port}_${port.proto.toUpperCase()}_ADDR=${l.ip} and the rest of that family` : `${envAlias(l.alias)}_NAME=/${c.name}/${l.alias}`;
    const line = c.files.hosts.split('\n').find((x) => x.startsWith(`${l.ip}\t`)) ?? l.ip;
    out.push(`--link ${l.target}:${l.alias} becomes the /etc/hosts line ${JSON.stringify(line)} and the variables ${vars} in its environment.`);
  }
  if (lab.hosts.length > 0) {
    const remote = lab.containers.filter((x) => x.host !== c.host).map((x) => `${x.name} on ${x.host}`);
    if (remote.length > 0) out.push(`Its /etc/hosts also names the containers on other hosts (${remote.join(', ')}): names and links resolve across the tunnel, as on one Docker overlay network.`);
  }
  out.push(...impairWhy(c));
  if (c.command !== undefined) out.push("Then its command starts inside its namespaces, like a container's entrypoint; its output goes to a log file (docker logs = netlab logs).");
  return out;
}

/** The firewall: each published port, the outbound NAT, Docker's FORWARD chains. */
function firewallWhy(lab: Lab): string[] {
  const out = [`Docker's iptables rules, in the lab's own chains NL-${lab.name}-* (jumped to from the built-in chains), so that no other rule on the host is touched:`];
  for (const c of lab.containers) {
    for (const b of portRuns(c.ports).filter((r) => r.containerIp && !r.hostIp.includes(':'))) {
      const [host, ctr] = [spanText(b.host), spanText(b.container)];
      out.push(
        `this is what ${dockerPublishFlag(b)} becomes: a DNAT of ${b.hostIp === '0.0.0.0' ? 'any host address' : b.hostIp} port${host.includes('-') ? 's' : ''} ${host}/${b.proto} to ${c.name} ${b.containerIp}:${ctr}${host.includes('-') ? ' (one rule for the whole range)' : ''}, reached from PREROUTING (other machines) and OUTPUT (the host itself), and an ACCEPT for it in NL-${lab.name}-PORTS (Docker's DOCKER chain).`,
      );
    }
  }
  for (const n of lab.networks) {
    if (n.ipMasquerade && !n.internal && n.ipv4 !== false)
      out.push(
        `MASQUERADE of ${formatCidr(n.subnet)} leaving by any other interface than ${n.bridge} is Docker's outbound NAT (-A POSTROUTING -s ${formatCidr(n.subnet)} ! -o ${n.bridge} -j MASQUERADE).`,
      );
  }
  out.push(
    `The FORWARD rules are Docker's DOCKER and DOCKER-ISOLATION chains: answers come back in, published ports come in, containers of a network talk to each other${lab.networks.some((n) => !n.icc) ? ' (unless icc: false)' : ''}, nothing else from outside gets in.`,
  );
  if (lab.firewall === 'nftables' && lab.networks.length > 0) {
    out.push(
      "Its bridges are listed in iptables' shared NL-ISOLATION chains too: a packet passes both iptables' and nftables' forward hooks, and a lab on the iptables backend drops there the traffic between its bridges and those listed, so labs on different backends stay isolated.",
    );
  }
  out.push(...firewallWhy6(lab));
  if (lab.containers.some((c) => c.ports.some((b) => b.proto === 'udp')))
    out.push('For a published UDP port, conntrack forgets the flows it saw before the DNAT existed, so a client that kept sending is forwarded at once (Docker does the same).');
  return out;
}

/** A VTEP, its FDB, head-end replication, the MTU, OVS's VXLAN ports: what a multi-host network's tunnel is. */
function overlayWhy(lab: Lab, n: LabNetwork, ops: Op[]): string[] {
  const out: string[] = [];
  const vx = ops.find((o): o is Extract<Op, { kind: 'vxlan.add' }> => o.kind === 'vxlan.add');
  const remotes = (dsts: string[]) => dsts.map((d) => `${lab.hosts.find((h) => h.underlay === d)?.name ?? 'a host'} at ${d}`).join(', ');
  if (vx) {
    out.push(
      `This is a VTEP (VXLAN tunnel endpoint), what Docker's overlay driver puts on each host: the vxlan device ${vx.name} wraps each Ethernet frame the bridge hands it in a UDP packet from this host's underlay address ${vx.local} to port ${vx.port} of another host, with VNI ${vx.vni} telling this network's frames from others, and unwraps what comes back; enslaved to the bridge, it is one more switch port, one that leads to the other hosts.`,
    );
    if (n.vxlan && vx.port !== n.vxlan.port)
      out.push(
        `Port ${vx.port}, not ${n.vxlan.port}: Open vSwitch's userspace datapath takes every VXLAN packet on the port its own network uses, so this Linux VXLAN network moves to the next port (on every host alike).`,
      );
    const fdb = ops.filter((o): o is Extract<Op, { kind: 'fdb.append' }> => o.kind === 'fdb.append');
    if (fdb.length > 0) {
      out.push(
        `bridge fdb append 00:00:00:00:00:00 ... dst: the all-zeros entry in the device's forwarding database means "broadcasts and frames for unknown MACs go to this VTEP"; one per remote host (${remotes(fdb.map((f) => f.dst))}) is head-end replication: this host copies each flood to every other host itself, so the underlay needs no multicast. MACs learned from the answers then go to the one host that has them.`,
      );
    }
  }
  const ovsBridge = ops.find((o): o is Extract<Op, { kind: 'ovs.bridge.add' }> => o.kind === 'ovs.bridge.add');
  if (ovsBridge) {
    out.push(
      `This is the seed lecture's Open vSwitch experiment: an OVS bridge ${ovsBridge.bridge} (datapath_type=${ovsBridge.datapath}: ${ovsBridge.datapath === 'netdev' ? "OVS's userspace datapath, where no openvswitch kernel module is loaded" : "the openvswitch kernel module's datapath"}), plugged into the Linux bridge ${n.bridge} by its internal port ${ovsName.plug(lab.name, n.name)}, so that the gateway and the containers' veths stay where Docker has them.`,
    );
    const tunnels = ops.filter((o): o is Extract<Op, { kind: 'ovs.port.add' }> => o.kind === 'ovs.port.add' && o.type === 'vxlan');
    if (tunnels.length > 0) {
      out.push(
        `Each VXLAN port (type=vxlan options:remote_ip=... options:key=${n.vxlan?.vni}) is a tunnel to one remote host (${remotes(tunnels.map((t) => t.options.remote_ip ?? ''))}): OVS is the VTEP here and floods to every tunnel port itself, head-end replication again. The flow in_port=<tunnel> actions=output:<internal port> is split horizon: what comes out of a tunnel goes only to this host, so a full mesh of three or more hosts has no loop.`,
      );
    }
  }
  out.push(
    `MTU ${n.mtu}: VXLAN adds 50 bytes (outer Ethernet 14, IP 20, UDP 8, VXLAN 8), so the bridge, the tunnel and every veth of this network use the underlay's 1500 minus 50, and full-size packets cross without being fragmented, as on a Docker overlay network.`,
  );
  return out;
}

/** The sections as one shell script a student can read and run as root. */
export function renderExplain(lab: Lab, sections: ExplainSection[]): string {
  const out = [
    '#!/bin/bash',
    `# netlab explain: the commands that build lab "${lab.name}" (${lab.source}) on a host that has none of it.`,
    `# "sudo bash" this file to build the same lab by hand; "sudo netlab down -l ${lab.name}" removes it.`,
    'set -e',
  ];
  out.push(...renderSections(sections));
  return `${out.join('\n')}\n`;
}

function renderSections(sections: ExplainSection[]): string[] {
  const out: string[] = [];
  for (const s of sections) {
    out.push('', `# ── ${s.title} ${'─'.repeat(Math.max(3, 90 - s.title.length))}`.slice(0, 96));
    for (const w of s.why) out.push(...wrap(w, 94).map((l) => `# ${l}`));
    out.push(...s.commands);
  }
  return out;
}

/** One host's share of a multi-host lab: the lab as that host resolves it, and its sections. */
export interface HostShare {
  host: LabHost;
  sections: ExplainSection[];
  /** `--simulate`: how this host's machine gets its own Open vSwitch, run before its share. */
  machine?: ExplainSection[];
}

/** What `--simulate` builds around the hosts: their namespaces and the underlay joining them. */
export interface SimulatedMachines {
  sections: ExplainSection[];
  /** The namespace that plays each host. */
  netns: Record<string, string>;
  /** The environment the host's share runs with (its own Open vSwitch). */
  env: Record<string, Record<string, string>>;
}

/**
 * A multi-host lab as one script: one part per host, headed by the VM it runs on. Real VMs: each
 * part runs only on the machine that has its underlay address (or the part of `--host NAME`
 * alone, unguarded). `--simulate`: the machines first, then each share inside its machine's namespace.
 */
export function renderMultiHostExplain(lab: { name: string; source: string }, shares: HostShare[], opts: { named: boolean; simulated?: SimulatedMachines }): string {
  const sim = opts.simulated;
  const out = [
    '#!/bin/bash',
    sim
      ? `# netlab explain --simulate: the commands that build multi-host lab "${lab.name}" (${lab.source}) on this one machine, every host a network namespace.`
      : `# netlab explain: the commands that build ${opts.named ? `host ${shares[0]?.host.name}'s share of` : 'every host of'} multi-host lab "${lab.name}" (${lab.source}), as "netlab up --host NAME" runs them on that host.`,
    sim
      ? `# "sudo bash" this file to build it by hand; "sudo netlab down -l ${lab.name}" removes all of it.`
      : opts.named
        ? `# "sudo bash" this file on ${shares[0]?.host.name}; "sudo netlab down -l ${lab.name} --host ${shares[0]?.host.name}" removes it.`
        : `# "sudo bash" this same file on every host: each part runs only on the machine that has its underlay address.`,
    'set -e',
  ];
  if (sim) out.push(...renderSections(sim.sections));
  for (const share of shares) {
    const h = share.host;
    out.push('', `# ${'═'.repeat(94)}`, `# on ${h.name} (underlay ${h.underlay})${sim ? `: the network namespace ${sim.netns[h.name]} plays this VM` : ''}`, `# ${'═'.repeat(94)}`);
    if (sim) {
      out.push(...renderSections(share.machine ?? []));
      const env = Object.entries(sim.env[h.name] ?? {}).map(([k, v]) => `${k}=${shellQuote(v)}`);
      const tag = `ON_${h.name.replace(/[^A-Za-z0-9_]/g, '_')}`;
      out.push('', `# ${h.name}'s share runs inside its namespace, as "netlab up --host ${h.name}" runs there.`);
      out.push(`nsenter --net=/run/netns/${sim.netns[h.name]} ${env.length ? `env ${env.join(' ')} ` : ''}bash -e <<'${tag}'`, ...renderSections(share.sections).slice(1), tag);
    } else if (opts.named) out.push(...renderSections(share.sections));
    else out.push(`if ip -o -4 addr show | grep -q ' inet ${h.underlay.replaceAll('.', '\\.')}/'; then`, ...renderSections(share.sections).slice(1), 'fi');
  }
  return `${out.join('\n')}\n`;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

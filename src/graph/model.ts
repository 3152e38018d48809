/**
 * A lab as a picture, independent of the drawing format: nested clusters (a host, the
 * namespaces on it), nodes (bridges, interfaces, published ports) and edges (veth pairs,
 * bridge ports, links, NAT). Multi-host labs add a host cluster per host and `tunnel` edges
 * between their VXLAN or OVS nodes; the renderers need no change for that.
 */
import type { Lab, LabContainer, LabHost, LabNetwork } from '../model/lab.js';
import { formatCidr, formatIp } from '../model/ipv4.js';
import { hostIpText, portKey } from '../model/ports.js';
import { ovsName, vxlanName } from '../model/names.js';
import { dockerPublishFlag } from '../plan/explain.js';
import { portRuns, spanText } from '../model/port-runs.js';
import { linuxVxlanPort } from '../plan/desired.js';

export type NodeKind = 'bridge' | 'iface' | 'veth' | 'port' | 'outside' | 'vxlan' | 'ovs';
export type EdgeKind = 'veth' | 'port' | 'link' | 'publish' | 'nat' | 'tunnel';

export interface GraphNode {
  id: string;
  kind: NodeKind;
  /** Lines of text; the first is the name. */
  label: string[];
}

export interface GraphCluster {
  id: string;
  kind: 'host' | 'container';
  label: string[];
  nodes: GraphNode[];
  clusters: GraphCluster[];
}

export interface GraphEdge {
  from: string;
  to: string;
  kind: EdgeKind;
  label?: string;
}

export interface Graph {
  title: string;
  clusters: GraphCluster[];
  /** Nodes outside every host (none today: each host holds its own `outside`). */
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** Ids safe in DOT and Mermaid: letters, digits and `_`. */
export const nodeId = (...parts: string[]) => parts.join('_').replace(/[^A-Za-z0-9_]/g, '_');

export function labGraph(lab: Lab, opts: { live: boolean }): Graph {
  const edges: GraphEdge[] = [];
  const title = `lab ${lab.name} (${opts.live ? 'live: as it is up' : `from ${lab.source}`})`;
  if (lab.hosts.length === 0) {
    const host: GraphCluster = { id: nodeId('host'), kind: 'host', label: ['host (this machine)', 'ip_forward=1'], nodes: [], clusters: [] };
    drawShare(lab, host, lab.networks, lab.containers, undefined, edges);
    drawLinks(lab, edges);
    return { title, clusters: [host], nodes: [], edges };
  }
  // A multi-host lab: one cluster per host with its share, and a tunnel between the hosts' ends of every overlay.
  const clusters: GraphCluster[] = [];
  const ends = new Map<string, { host: LabHost; id: string }[]>();
  for (const [index, h] of lab.hosts.entries()) {
    const cluster: GraphCluster = { id: nodeId('host', h.name), kind: 'host', label: [`host ${h.name}`, `underlay ${h.underlay}/${h.prefix}`, 'ip_forward=1'], nodes: [], clusters: [] };
    const containers = lab.containers.filter((c) => c.host === h.name);
    const used = new Set(containers.flatMap((c) => c.interfaces.map((i) => i.network)));
    const networks = lab.networks.filter((n) => used.has(n.name));
    const mine: GraphEdge[] = [];
    drawShare(lab, cluster, networks, containers, h, mine);
    for (const n of networks) {
      const end = drawOverlay(lab, cluster, n, h, mine);
      if (end) ends.set(n.name, [...(ends.get(n.name) ?? []), { host: h, id: end }]);
    }
    // Left to right: the first host's containers, bridges, tunnel ends, then the next hosts mirrored (tunnel ends first).
    edges.push(...mine.map((e) => (index > 0 && e.kind !== 'nat' && e.kind !== 'publish' ? { ...e, from: e.to, to: e.from } : e)));
    clusters.push(cluster);
  }
  for (const n of lab.networks) {
    const list = ends.get(n.name) ?? [];
    const port = n.driver === 'ovs' ? n.vxlan?.port : n.vxlan && linuxVxlanPort(lab, n.vxlan.port);
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        edges.push({ from: list[i]!.id, to: list[j]!.id, kind: 'tunnel', label: `VXLAN VNI ${n.vxlan?.vni} UDP ${port}: ${list[i]!.host.underlay} <-> ${list[j]!.host.underlay}` });
      }
    }
  }
  drawLinks(lab, edges);
  return { title, clusters, nodes: [], edges };
}

/** The bridges, containers, veths and published ports of one host (a multi-host lab's node ids carry the host's name). */
function drawShare(_lab: Lab, host: GraphCluster, networks: LabNetwork[], containers: LabContainer[], h: LabHost | undefined, edges: GraphEdge[]): void {
  const at = (...parts: string[]) => (h ? nodeId(parts[0]!, h.name, ...parts.slice(1)) : nodeId(...parts));
  // The way out is one of the host's own interfaces: drawn inside the host, where MASQUERADE sends the bridges' traffic.
  const outside: GraphNode = { id: at('outside'), kind: 'outside', label: ['outside', `other interfaces of ${h ? h.name : 'the host'}`] };
  host.nodes.push(outside);
  for (const n of networks) {
    const id = at('br', n.bridge);
    const gateway = h ? n.gateways[h.name]! : n.gateway;
    const gateway6 = n.ipv6 && (h ? n.ipv6.gateways[h.name]! : n.ipv6.gateway);
    const addrs = [...(n.ipv4 === false ? [] : [`${formatIp(gateway)}/${n.subnet.prefix}`]), ...(gateway6 ? [`${gateway6}/${n.ipv6!.prefix}`] : [])];
    host.nodes.push({ id, kind: 'bridge', label: [`bridge ${n.bridge}`, ...addrs, `network ${n.name}${n.icc ? '' : ', icc off'}${n.internal ? ', internal' : ''}`] });
    if (n.ipMasquerade && !n.internal && n.ipv4 !== false) edges.push({ from: id, to: outside.id, kind: 'nat', label: `MASQUERADE ${formatCidr(n.subnet)}` });
  }

  for (const c of containers) {
    const cluster: GraphCluster = {
      id: nodeId('ctr', c.name),
      kind: 'container',
      label: [`container ${c.name}`, `netns ${c.netns}`, ...(c.expose.length ? [`expose ${c.expose.map(portKey).join(' ')}`] : [])],
      nodes: [],
      clusters: [],
    };
    for (const i of c.interfaces) {
      const inner = nodeId('if', c.name, i.ifname);
      const outer = nodeId('veth', i.hostVeth);
      cluster.nodes.push({ id: inner, kind: 'iface', label: [i.ifname, ...(i.ip ? [`${i.ip}/${i.prefix}`] : []), ...(i.ip6 ? [`${i.ip6}/${i.prefix6}`] : []), i.mac] });
      host.nodes.push({ id: outer, kind: 'veth', label: [i.hostVeth, `veth of ${c.name}`] });
      edges.push({ from: inner, to: outer, kind: 'veth', label: 'veth pair' });
      edges.push({ from: outer, to: at('br', i.bridge), kind: 'port' });
    }
    // A range (or ports that follow one another) is one node, as `ps` shows it as one entry.
    for (const r of portRuns(c.ports)) {
      const id = at('port', r.hostIp, spanText(r.host), r.proto);
      host.nodes.push({ id, kind: 'port', label: [`${r.hostIp === '0.0.0.0' ? '*' : hostIpText(r.hostIp)}:${spanText(r.host)}/${r.proto}`, dockerPublishFlag(r)] });
      const target = c.interfaces.find((i) => i.ip === r.containerIp);
      edges.push({ from: id, to: nodeId('if', c.name, target?.ifname ?? 'eth0'), kind: 'publish', label: `DNAT ${r.containerIp}:${spanText(r.container)}` });
    }
    host.clusters.push(cluster);
  }
}

/** A host's end of an overlay network: its VXLAN device or its OVS bridge, plugged into the network's bridge. Returns its node id. */
function drawOverlay(lab: Lab, host: GraphCluster, n: LabNetwork, h: LabHost, edges: GraphEdge[]): string | undefined {
  const bridge = nodeId('br', h.name, n.bridge);
  if (n.driver === 'ovs') {
    const id = nodeId('ovs', h.name, n.name);
    host.nodes.push({ id, kind: 'ovs', label: [`OVS bridge ${ovsName.bridge(lab.name, n.name)}`, ...(n.vxlan ? [`VXLAN ports, VNI ${n.vxlan.vni}`] : []), `VTEP ${h.underlay}`] });
    edges.push({ from: bridge, to: id, kind: 'port', label: `internal port ${ovsName.plug(lab.name, n.name)}` });
    return n.vxlan ? id : undefined;
  }
  if (!n.vxlan) return undefined;
  const id = nodeId('vx', h.name, n.name);
  host.nodes.push({ id, kind: 'vxlan', label: [`vxlan ${vxlanName(lab.name, n.name)}`, `VNI ${n.vxlan.vni}, UDP ${linuxVxlanPort(lab, n.vxlan.port)}`, `VTEP ${h.underlay}, MTU ${n.mtu}`] });
  edges.push({ from: bridge, to: id, kind: 'port' });
  return id;
}

function drawLinks(lab: Lab, edges: GraphEdge[]): void {
  for (const c of lab.containers) {
    for (const l of c.links) {
      const target = lab.containers.find((x) => x.name === l.target);
      const iface = target?.interfaces.find((i) => (l.ip ? i.ip === l.ip : i.ip6 === l.ip6));
      const from = c.interfaces.find((i) => iface && i.network === iface.network) ?? c.interfaces[0];
      if (iface && from)
        edges.push({ from: nodeId('if', c.name, from.ifname), to: nodeId('if', l.target, iface.ifname), kind: 'link', label: `link ${l.alias === l.target ? l.target : `${l.target}:${l.alias}`}` });
    }
  }
}

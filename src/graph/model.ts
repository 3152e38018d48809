/**
 * A lab as a picture, independent of the drawing format: nested clusters (a host, the
 * namespaces on it), nodes (bridges, interfaces, published ports) and edges (veth pairs,
 * bridge ports, links, NAT). Multi-host labs add a host cluster per host and `tunnel` edges
 * between their VXLAN or OVS nodes; the renderers need no change for that.
 */
import type { Lab } from '../model/lab.js';
import { formatCidr, formatIp } from '../model/ipv4.js';
import { portKey } from '../model/ports.js';
import { dockerPublishFlag } from '../plan/explain.js';

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
  /** Nodes outside every host: the outside world. */
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** Ids safe in DOT and Mermaid: letters, digits and `_`. */
export const nodeId = (...parts: string[]) => parts.join('_').replace(/[^A-Za-z0-9_]/g, '_');

export function labGraph(lab: Lab, opts: { live: boolean }): Graph {
  const host: GraphCluster = { id: nodeId('host'), kind: 'host', label: ['host (this machine)', 'ip_forward=1'], nodes: [], clusters: [] };
  const edges: GraphEdge[] = [];
  const outside: GraphNode = { id: nodeId('outside'), kind: 'outside', label: ['outside', 'other interfaces of the host'] };

  for (const n of lab.networks) {
    const id = nodeId('br', n.bridge);
    host.nodes.push({ id, kind: 'bridge', label: [`bridge ${n.bridge}`, `${formatIp(n.gateway)}/${n.subnet.prefix}`, `network ${n.name}${n.icc ? '' : ', icc off'}${n.internal ? ', internal' : ''}`] });
    if (n.ipMasquerade && !n.internal) edges.push({ from: id, to: outside.id, kind: 'nat', label: `MASQUERADE ${formatCidr(n.subnet)}` });
  }

  for (const c of lab.containers) {
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
      cluster.nodes.push({ id: inner, kind: 'iface', label: [i.ifname, `${i.ip}/${i.prefix}`, i.mac] });
      host.nodes.push({ id: outer, kind: 'veth', label: [i.hostVeth, `veth of ${c.name}`] });
      edges.push({ from: inner, to: outer, kind: 'veth', label: 'veth pair' });
      edges.push({ from: outer, to: nodeId('br', i.bridge), kind: 'port' });
    }
    for (const b of c.ports) {
      const id = nodeId('port', b.hostIp, String(b.hostPort), b.proto);
      host.nodes.push({ id, kind: 'port', label: [`${b.hostIp === '0.0.0.0' ? '*' : b.hostIp}:${b.hostPort}/${b.proto}`, dockerPublishFlag(b)] });
      const target = c.interfaces.find((i) => i.ip === b.containerIp);
      edges.push({ from: id, to: nodeId('if', c.name, target?.ifname ?? 'eth0'), kind: 'publish', label: `DNAT ${b.containerIp}:${b.containerPort}` });
    }
    host.clusters.push(cluster);
  }

  for (const c of lab.containers) {
    for (const l of c.links) {
      const target = lab.containers.find((x) => x.name === l.target);
      const iface = target?.interfaces.find((i) => i.ip === l.ip);
      const from = c.interfaces.find((i) => iface && i.network === iface.network) ?? c.interfaces[0];
      if (iface && from) edges.push({ from: nodeId('if', c.name, from.ifname), to: nodeId('if', l.target, iface.ifname), kind: 'link', label: `link ${l.alias === l.target ? l.target : `${l.target}:${l.alias}`}` });
    }
  }

  return {
    title: `lab ${lab.name} (${opts.live ? 'live: as it is up' : `from ${lab.source}`})`,
    clusters: [host],
    nodes: [outside],
    edges,
  };
}

/**
 * What the page draws and animates, from a lab (pure): the graph as `netlab graph` lays it out,
 * which kernel interface and firewall counter feeds which node or edge, and where each hop of a
 * trace lands in the picture.
 */
import type { Lab, LabContainer } from '../model/lab.js';
import { formatRun, portRuns, spanText, type PortRun } from '../model/port-runs.js';
import { nodeId, type Graph, type GraphCluster, type GraphNode } from '../graph/model.js';
import type { TraceResult, TraceStep } from '../trace/model.js';

export interface UiNode {
  id: string;
  kind: GraphNode['kind'] | 'container' | 'host';
  label: string[];
  /** The container a node belongs to (its cluster, or an interface in it). */
  container?: string;
}

export interface UiEdge {
  /** `from--to`: Graphviz's title of the edge in the SVG. */
  key: string;
  from: string;
  to: string;
  kind: string;
  label?: string;
}

/** Where a counter of the kernel shows: a veth edge (a container's interface) or a port node (its DNAT rule). */
export interface CounterSources {
  /** `container/ifname` → the key of its veth edge. */
  interfaces: Record<string, string>;
  /** `hostIp:hostPort->containerPort/proto` (as stats names it) → the port node's id. */
  ports: Record<string, string>;
}

export interface UiLab {
  lab: string;
  source: string;
  firewall: Lab['firewall'];
  live: boolean;
  containers: string[];
  nodes: UiNode[];
  edges: UiEdge[];
  counters: CounterSources;
}

export function uiLab(lab: Lab, graph: Graph, live: boolean): UiLab {
  const nodes: UiNode[] = [];
  const walk = (c: GraphCluster, container?: string) => {
    const own = c.kind === 'container' ? c.label[0]!.replace(/^container /, '') : container;
    nodes.push({ id: `cluster_${c.id}`, kind: c.kind === 'container' ? 'container' : 'host', label: c.label, ...(own ? { container: own } : {}) });
    for (const n of c.nodes) nodes.push({ id: n.id, kind: n.kind, label: n.label, ...(own ? { container: own } : {}) });
    for (const sub of c.clusters) walk(sub, own);
  };
  for (const c of graph.clusters) walk(c);
  for (const n of graph.nodes) nodes.push({ id: n.id, kind: n.kind, label: n.label });
  const edges = graph.edges.map((e) => ({ key: `${e.from}--${e.to}`, from: e.from, to: e.to, kind: e.kind, ...(e.label ? { label: e.label } : {}) }));
  return { lab: lab.name, source: lab.source, firewall: lab.firewall, live, containers: lab.containers.map((c) => c.name), nodes, edges, counters: counterSources(lab, edges) };
}

function counterSources(lab: Lab, edges: UiEdge[]): CounterSources {
  const interfaces: Record<string, string> = {};
  const ports: Record<string, string> = {};
  for (const c of lab.containers) {
    for (const i of c.interfaces) {
      const inner = nodeId('if', c.name, i.ifname);
      const edge = edges.find((e) => e.kind === 'veth' && (e.from === inner || e.to === inner));
      if (edge) interfaces[`${c.name}/${i.ifname}`] = edge.key;
    }
    for (const r of portRuns(c.ports)) ports[formatRun(r)] = portNodeId(c, r);
  }
  return { interfaces, ports };
}

/** One hop of a trace as the page shows it: the node it lights, what it says, whether it ends there. */
export interface UiHop {
  node: string;
  leg: 'forward' | 'reply';
  text: string;
  nat?: string;
  verdict?: 'dropped';
}

/** The trace's steps, in order, each on the node of the interface it names (or of its namespace). */
export function traceHops(lab: Lab, t: TraceResult): UiHop[] {
  const hops: UiHop[] = [];
  const legs = [
    ['forward', t.forward],
    ['reply', t.reply],
  ] as const;
  for (const [leg, l] of legs) {
    for (const step of l?.steps ?? []) {
      const node = stepNode(lab, step);
      if (!node) continue;
      const rules = step.rules.map((r) => `${r.chain}: ${r.rule} → ${r.verdict}`);
      const nat = step.nat.map((n) => `${n.kind} ${n.before} → ${n.after}`).join(', ');
      const dropped = t.end.kind === 'dropped' && t.end.rule !== undefined && step.rules.some((r) => r.rule === t.end.rule!.rule && r.chain === t.end.rule!.chain);
      hops.push({
        node,
        leg,
        text: [`${step.namespace} ${step.hook}${step.in ? ` in ${step.in}` : ''}${step.out ? ` out ${step.out}` : ''}: ${step.src} → ${step.dst}`, ...rules].join('\n'),
        ...(nat ? { nat } : {}),
        ...(dropped ? { verdict: 'dropped' as const } : {}),
      });
    }
  }
  return hops;
}

/** The node a step shows on: a container's interface, a published port (where DNAT rewrote it), a host veth or bridge, the outside. */
function stepNode(lab: Lab, step: TraceStep): string | undefined {
  if (step.namespace === 'outside') return nodeId('outside');
  const c = lab.containers.find((x) => x.name === step.namespace || x.netns === step.namespace);
  const iface = step.in ?? step.out;
  if (c) return nodeId('if', c.name, c.interfaces.find((i) => i.ifname === iface)?.ifname ?? c.interfaces[0]?.ifname ?? 'eth0');
  const port = publishedPortOf(lab, step);
  if (port) return port;
  for (const x of lab.containers) {
    const i = x.interfaces.find((j) => j.hostVeth === step.in || j.hostVeth === step.out);
    if (i) return nodeId('veth', i.hostVeth);
  }
  const n = lab.networks.find((x) => x.bridge === step.in || x.bridge === step.out);
  if (n) return nodeId('br', n.bridge);
  return step.in === 'lo' || step.out === 'lo' ? 'cluster_host' : nodeId('outside');
}

/** The published port whose DNAT this step shows: its host port is the rewrite's old destination port. */
function publishedPortOf(lab: Lab, step: TraceStep): string | undefined {
  const dnat = step.nat.find((n) => n.kind === 'DNAT');
  if (!dnat) return undefined;
  const port = Number(dnat.before.split(':').pop());
  for (const c of lab.containers) {
    const r = portRuns(c.ports).find((p) => port >= p.host.start && port <= p.host.end && dnat.after.startsWith(`${p.containerIp}:`));
    if (r) return portNodeId(c, r);
  }
  return undefined;
}

/** The graph's node of a run of published ports (graph/model.ts names it so). */
function portNodeId(c: LabContainer, r: PortRun): string {
  return c.host ? nodeId('port', c.host, r.hostIp, spanText(r.host), r.proto) : nodeId('port', r.hostIp, spanText(r.host), r.proto);
}

/** Graph → Graphviz DOT text. */
import type { EdgeKind, Graph, GraphCluster, GraphEdge, GraphNode, NodeKind } from './model.js';

const quote = (s: string) => `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
const label = (lines: string[]) => `"${lines.map((l) => l.replaceAll('\\', '\\\\').replaceAll('"', '\\"')).join('\\n')}"`;

const NODE_STYLE: Record<NodeKind, string> = {
  bridge: 'shape=box, style="rounded,filled", fillcolor="#cfe2ff"',
  iface: 'shape=box, style=filled, fillcolor="#d1e7dd"',
  veth: 'shape=box, style=filled, fillcolor="#fff3cd"',
  port: 'shape=cds, style=filled, fillcolor="#f8d7da"',
  outside: 'shape=ellipse, style=dashed',
  vxlan: 'shape=box, style=filled, fillcolor="#e2d9f3"',
  ovs: 'shape=box3d, style=filled, fillcolor="#cfe2ff"',
};

const EDGE_STYLE: Record<EdgeKind, string> = {
  veth: 'penwidth=2',
  port: 'color="#0d6efd"',
  link: 'style=dashed, color="#6c757d"',
  publish: 'color="#dc3545"',
  nat: 'style=dotted',
  // Two ranks: room for the long underlay label between the two hosts' ends.
  tunnel: 'style=bold, color="#6f42c1", minlen=2',
};

export function toDot(g: Graph): string {
  const out = [
    'graph netlab {',
    '  rankdir=LR;',
    `  label=${quote(g.title)}; labelloc=t; fontname="Helvetica";`,
    '  node [fontname="Helvetica", fontsize=11];',
    '  edge [fontname="Helvetica", fontsize=9];',
  ];
  const notes = linkNotes(g);
  const node = (n: GraphNode, indent: string) => out.push(`${indent}${n.id} [label=${label(n.label)}, ${NODE_STYLE[n.kind]}];`);
  const cluster = (c: GraphCluster, indent: string) => {
    out.push(`${indent}subgraph cluster_${c.id} {`, `${indent}  label=${label(c.label)};`, `${indent}  style=${c.kind === 'host' ? 'solid' : '"rounded,filled"'}; fillcolor="#f8f9fa";`);
    for (const n of c.nodes) node(n, `${indent}  `);
    for (const sub of c.clusters) cluster(sub, `${indent}  `);
    for (const note of notes.filter((x) => x.host === c.id)) out.push(`${indent}  ${note.id} [label=${quote(note.label)}, ${LINK_NOTE_STYLE}];`);
    out.push(`${indent}}`);
  };
  for (const c of g.clusters) cluster(c, '  ');
  for (const n of g.nodes) node(n, '  ');
  for (const e of g.edges) {
    const note = notes.find((x) => x.edge === e);
    if (note) out.push(`  ${note.id} -- ${e.from} [${EDGE_STYLE.link}];`, `  ${note.id} -- ${e.to} [${EDGE_STYLE.link}];`);
    else out.push(`  ${e.from} -- ${e.to} [${e.label ? `label=${quote(e.label)}, ` : ''}${EDGE_STYLE[e.kind]}];`);
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}

const LINK_NOTE_STYLE = 'shape=note, fontsize=9, color="#6c757d"';

interface LinkNote {
  id: string;
  /** The host cluster that holds the linking container. */
  host: string;
  label: string;
  edge: GraphEdge;
}

/**
 * A link is drawn as a note of its own beside the two containers, joined to both: Graphviz gives
 * a node its own room, where a label on an edge between two stacked containers lands on a title.
 */
function linkNotes(g: Graph): LinkNote[] {
  const hostOf = new Map<string, string>();
  const containerOf = new Map<string, string>();
  const walk = (c: GraphCluster, host: string): void => {
    for (const n of c.nodes) hostOf.set(n.id, host);
    if (c.kind === 'container') for (const n of c.nodes) containerOf.set(n.id, c.label[0]!.replace(/^container /, ''));
    for (const sub of c.clusters) walk(sub, host);
  };
  for (const c of g.clusters) walk(c, c.id);
  return g.edges.flatMap((e) => {
    const host = hostOf.get(e.from);
    if (e.kind !== 'link' || !host) return [];
    const owner = containerOf.get(e.from);
    return [{ id: `${e.from}__${e.to}`, host, label: `${owner ? `${owner}: ` : ''}${e.label ?? 'link'}`, edge: e }];
  });
}

/** Graph → Graphviz DOT text. */
import type { EdgeKind, Graph, GraphCluster, GraphNode, NodeKind } from './model.js';

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
  link: 'style=dashed, color="#6c757d", constraint=false',
  publish: 'color="#dc3545"',
  nat: 'style=dotted',
  tunnel: 'style=bold, color="#6f42c1"',
};

export function toDot(g: Graph): string {
  const out = [
    'graph netlab {',
    '  rankdir=LR;',
    `  label=${quote(g.title)}; labelloc=t; fontname="Helvetica";`,
    '  node [fontname="Helvetica", fontsize=11];',
    '  edge [fontname="Helvetica", fontsize=9];',
  ];
  const node = (n: GraphNode, indent: string) => out.push(`${indent}${n.id} [label=${label(n.label)}, ${NODE_STYLE[n.kind]}];`);
  const cluster = (c: GraphCluster, indent: string) => {
    out.push(`${indent}subgraph cluster_${c.id} {`, `${indent}  label=${label(c.label)};`, `${indent}  style=${c.kind === 'host' ? 'solid' : '"rounded,filled"'}; fillcolor="#f8f9fa";`);
    for (const n of c.nodes) node(n, `${indent}  `);
    for (const sub of c.clusters) cluster(sub, `${indent}  `);
    out.push(`${indent}}`);
  };
  for (const c of g.clusters) cluster(c, '  ');
  for (const n of g.nodes) node(n, '  ');
  for (const e of g.edges) out.push(`  ${e.from} -- ${e.to} [${e.label ? `label=${quote(e.label)}, ` : ''}${EDGE_STYLE[e.kind]}];`);
  out.push('}');
  return `${out.join('\n')}\n`;
}

/** Graph → a Mermaid flowchart (renders on GitHub and in most Markdown viewers). */
import type { EdgeKind, Graph, GraphCluster, GraphNode, NodeKind } from './model.js';

/** Mermaid labels: quotes become #quot;, lines are joined with <br/>. */
const text = (lines: string[]) => `"${lines.map((l) => l.replaceAll('"', '#quot;')).join('<br/>')}"`;

const SHAPE: Record<NodeKind, (t: string) => string> = {
  bridge: (t) => `[${t}]`,
  iface: (t) => `[${t}]`,
  veth: (t) => `[${t}]`,
  port: (t) => `>${t}]`,
  outside: (t) => `((${t}))`,
  vxlan: (t) => `[${t}]`,
  ovs: (t) => `[[${t}]]`,
};

const ARROW: Record<EdgeKind, string> = { veth: '===', port: '---', link: '-.-', publish: '-->', nat: '-.->', tunnel: '===' };

export function toMermaid(g: Graph): string {
  const out = ['---', `title: ${g.title}`, '---', 'flowchart LR'];
  const node = (n: GraphNode, indent: string) => out.push(`${indent}${n.id}${SHAPE[n.kind](text(n.label))}`);
  const cluster = (c: GraphCluster, indent: string) => {
    out.push(`${indent}subgraph ${c.id}[${text(c.label)}]`);
    for (const n of c.nodes) node(n, `${indent}  `);
    for (const sub of c.clusters) cluster(sub, `${indent}  `);
    out.push(`${indent}end`);
  };
  for (const c of g.clusters) cluster(c, '  ');
  for (const n of g.nodes) node(n, '  ');
  for (const e of g.edges) out.push(`  ${e.from} ${ARROW[e.kind]}${e.label ? `|${text([e.label])}|` : ''} ${e.to}`);
  out.push('  classDef bridge fill:#cfe2ff,stroke:#0d6efd', '  classDef iface fill:#d1e7dd', '  classDef veth fill:#fff3cd', '  classDef port fill:#f8d7da');
  for (const kind of ['bridge', 'iface', 'veth', 'port'] as const) {
    const ids = allNodes(g)
      .filter((n) => n.kind === kind)
      .map((n) => n.id);
    if (ids.length) out.push(`  class ${ids.join(',')} ${kind}`);
  }
  return `${out.join('\n')}\n`;
}

function allNodes(g: Graph): GraphNode[] {
  const walk = (c: GraphCluster): GraphNode[] => [...c.nodes, ...c.clusters.flatMap(walk)];
  return [...g.clusters.flatMap(walk), ...g.nodes];
}

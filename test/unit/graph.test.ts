/** graph: the lab drawn as DOT, Mermaid and SVG, and the format `graph -o` picks (pure). */
import { describe, expect, it } from 'vitest';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { labGraph } from '../../src/graph/model.js';
import { toDot } from '../../src/graph/dot.js';
import { toMermaid } from '../../src/graph/mermaid.js';
import { dotToSvg } from '../../src/graph/svg.js';
import { expectGolden as golden } from '../helpers/golden.js';
import { demoLab, multiLab, shopLab } from '../helpers/labs.js';

describe('graph', () => {
  it('draws a multi-host lab as one cluster per host, with the tunnels between them (golden)', () => {
    const lab = multiLab('vm1');
    const g = labGraph(lab, { live: false });
    expect(g.clusters.map((c) => c.label[0])).toEqual(['host vm1', 'host vm2']);
    expect(g.clusters.map((c) => c.clusters.map((x) => x.id))).toEqual([['ctr_a'], ['ctr_b']]);
    // Each host's bridge holds its own gateway of the one subnet.
    expect(g.clusters[1]!.nodes.find((n) => n.id === 'br_vm2_nlbrb0c9ffcb')?.label[1]).toBe('10.200.0.2/24');
    const tunnels = g.edges.filter((e) => e.kind === 'tunnel');
    expect(tunnels.map((e) => [e.from, e.to])).toEqual([
      ['vx_vm1_overlay', 'vx_vm2_overlay'],
      ['ovs_vm1_ovsnet', 'ovs_vm2_ovsnet'],
    ]);
    expect(tunnels[0]!.label).toBe('VXLAN VNI 42 UDP 4790: 192.168.56.11 <-> 192.168.56.12');
    const ids = [...g.clusters.flatMap((c) => [...c.nodes, ...c.clusters.flatMap((x) => x.nodes)]), ...g.nodes].map((n) => n.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const e of g.edges) expect(ids, `${e.from} -- ${e.to}`).toEqual(expect.arrayContaining([e.from, e.to]));
    golden('multihost.graph.dot', toDot(g));
    golden('multihost.graph.mmd', toMermaid(g));
  });

  it('renders the demo lab as DOT and Mermaid (golden)', () => {
    const g = labGraph(demoLab(), { live: false });
    golden('demo.graph.dot', toDot(g));
    golden('demo.graph.mmd', toMermaid(g));
  });

  it('shows every container, interface address, veth, published port and link', () => {
    const lab = shopLab();
    const dot = toDot(labGraph(lab, { live: false }));
    for (const c of lab.containers) {
      expect(dot).toContain(`container ${c.name}`);
      for (const i of c.interfaces) {
        expect(dot).toContain(`${i.ip}/${i.prefix}`);
        expect(dot).toContain(i.hostVeth);
      }
    }
    expect(dot).toContain('127.0.0.1:20010/tcp');
    expect(dot).toContain('-p 20011:53/udp');
    expect(dot).toContain('link db:database');
    expect(dot).toContain('icc off');
    expect(toMermaid(labGraph(lab, { live: false }))).toContain('subgraph ctr_app');
  });

  it('draws SVG without system packages: it parses and names every container', async () => {
    for (const lab of [demoLab(), shopLab()]) {
      const svg = await dotToSvg(toDot(labGraph(lab, { live: true })));
      expect(XMLValidator.validate(svg)).toBe(true);
      const doc = new XMLParser({ ignoreAttributes: false }).parse(svg);
      expect(doc.svg).toBeDefined();
      const texts: string[] = [];
      const walk = (n: unknown): void => {
        if (Array.isArray(n)) n.forEach(walk);
        else if (n && typeof n === 'object')
          for (const [k, v] of Object.entries(n)) k === 'text' ? texts.push(...[v].flat().map((t) => (typeof t === 'object' ? String((t as Record<string, unknown>)['#text']) : String(t)))) : walk(v);
      };
      walk(doc);
      for (const c of lab.containers) expect(texts).toContain(`container ${c.name}`);
      expect(texts.some((t) => t.includes('(live: as it is up)'))).toBe(true);
    }
  }, 20_000);
});

describe('graph -o picks the format from the extension', () => {
  it('writes what the extension names, refuses a picture format it does not draw and a contradiction', async () => {
    const { graphFormat } = await import('../../src/cli/graphformat.js');
    expect(graphFormat('svg', false, 'lab.dot')).toBe('dot');
    expect(graphFormat('svg', false, 'lab.MMD')).toBe('mermaid');
    expect(graphFormat('dot', true, 'lab.txt')).toBe('dot');
    expect(graphFormat('svg', false, undefined)).toBe('svg');
    expect(() => graphFormat('svg', false, 'lab.png')).toThrow(/not \.png/);
    expect(() => graphFormat('svg', true, 'lab.json')).toThrow(/extension says json/);
  });
});

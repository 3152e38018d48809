/** The SVG `netlab graph` draws: measured, not snapshotted. No text covers another's or a node, and `outside` sits in its host. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseTopology, DEMO_FILE } from '../../src/topology/load.js';
import { resolveLab, type Lab } from '../../src/model/lab.js';
import { labGraph } from '../../src/graph/model.js';
import { toDot } from '../../src/graph/dot.js';
import { dotToSvg } from '../../src/graph/svg.js';
import { emptyHostContext } from '../helpers/context.js';
import { SHOP_YAML } from '../helpers/labs.js';
import { drawnElements, inside, overlaps, textWidth } from '../helpers/svg-geometry.js';

const lab = (yaml: string, name: string, host?: string): Lab => resolveLab(parseTopology(yaml, { source: `${name}.yaml`, defaultName: name }), emptyHostContext, host);

/** The tutorial's step 10: icc off on one network, a linked, an unlinked and another network's container. */
const SEEDLAB = `name: seedlab
networks:
  lab: { bridge: seedlab-br, subnet: 10.103.40.0/24, icc: false }
  other: { bridge: seedlab-br2, subnet: 10.103.41.0/24 }
containers:
  web: { networks: [lab], expose: [80], publish: ["20040:80"], command: [netlab, serve, --port, "80"] }
  client: { networks: [lab], links: ["web:webalias"] }
  stranger: { networks: [lab] }
  visitor: { networks: [other] }
`;
const MULTIHOST = readFileSync(new URL('../../examples/multihost.yaml', import.meta.url), 'utf8');

const LABS: [string, () => Lab][] = [
  ['the demo lab', () => lab(readFileSync(DEMO_FILE, 'utf8'), 'demo')],
  ['the icc:false two-network lab (tutorial step 10)', () => lab(SEEDLAB, 'seedlab')],
  ['a container on two networks with a link', () => lab(SHOP_YAML, 'shop')],
  ['the multi-host example', () => lab(MULTIHOST, 'multihost', 'vm1')],
];

describe('graph SVG layout', () => {
  it('measures text as Graphviz sizes it (Helvetica, with a margin)', () => {
    expect(textWidth('mm', 10)).toBeGreaterThan(textWidth('ii', 10) * 3);
  });

  for (const [what, make] of LABS) {
    it(`${what}: no text covers another text or a node`, async () => {
      const drawn = drawnElements(await dotToSvg(toDot(labGraph(make(), { live: false }))));
      expect(drawn.filter((d) => d.kind === 'edge' && d.texts.length).length).toBeGreaterThan(0);
      expect(overlaps(drawn)).toEqual([]);
    });

    it(`${what}: each host's outside is drawn inside that host, joined by MASQUERADE`, async () => {
      const l = make();
      const g = labGraph(l, { live: false });
      const drawn = drawnElements(await dotToSvg(toDot(g)));
      for (const host of g.clusters) {
        const box = drawn.find((d) => d.title === `cluster_${host.id}`)!.shape!;
        const outside = host.nodes.find((n) => n.kind === 'outside');
        expect(outside, host.id).toBeDefined();
        expect(inside(drawn.find((d) => d.title === outside!.id)!.shape!, box), `${outside!.id} in ${host.id}`).toBe(true);
        expect(g.edges.some((e) => e.to === outside!.id && e.label?.startsWith('MASQUERADE'))).toBe(true);
      }
    });
  }

  it('draws a link as a note naming the linking container, joined to both interfaces', () => {
    const dot = toDot(labGraph(lab(readFileSync(DEMO_FILE, 'utf8'), 'demo'), { live: false }));
    expect(dot).toContain('if_client_eth0__if_web_eth0 [label="client: link web:webalias", shape=note');
    expect(dot).toContain('if_client_eth0__if_web_eth0 -- if_client_eth0 [');
    expect(dot).toContain('if_client_eth0__if_web_eth0 -- if_web_eth0 [');
  });
});

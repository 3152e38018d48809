/** The labs the pure tests of explain, graph and progress draw on: the demo, a two-network shop, the multi-host example. */
import { readFileSync } from 'node:fs';
import { parseTopology, DEMO_FILE } from '../../src/topology/load.js';
import { resolveLab } from '../../src/model/lab.js';
import { desiredState } from '../../src/plan/desired.js';
import { diff } from '../../src/plan/diff.js';
import { emptyState } from '../../src/plan/state.js';
import { explainSections } from '../../src/plan/explain.js';
import { emptyHostContext as ctx } from './context.js';

/** How a container command that starts with `netlab` runs, as the golden files name it. */
export const SELF = { selfArgv: ['/usr/bin/node', '/opt/netlab/cli.js'] };
export const demoLab = () => resolveLab(parseTopology(readFileSync(DEMO_FILE, 'utf8'), { source: '<demo>', defaultName: 'demo' }), ctx);
/** Two networks, one with icc: false, a link across them, published TCP and UDP ports. */
export const SHOP_YAML = `name: shop
networks:
  front: { subnet: 10.103.10.0/24 }
  back: { subnet: 10.103.11.0/24, icc: false }
containers:
  db: { networks: [back], expose: [5432] }
  app: { networks: [front, back], links: ["db:database"], publish: ["127.0.0.1:20010:8080", "20011:53/udp"] }
`;
export const shopLab = () => resolveLab(parseTopology(SHOP_YAML, { source: 'shop.yaml', defaultName: 'shop' }), ctx);

export const MULTIHOST_FILE = new URL('../../examples/multihost.yaml', import.meta.url);
/** The multi-host example as host `host` resolves it (each host's gateways are its own). */
export const multiLab = (host: string) => resolveLab(parseTopology(readFileSync(MULTIHOST_FILE, 'utf8'), { source: 'examples/multihost.yaml', defaultName: 'multihost' }), ctx, host);
/** A host's share of the multi-host example: its lab, the Ops that build it from nothing, and explain's sections of them. */
export const multiShare = (host: string) => {
  const lab = multiLab(host);
  const ops = diff(desiredState(lab, { ...SELF, ovsDatapath: 'netdev' }), emptyState(lab.name));
  return { lab, ops, sections: explainSections(lab, ops) };
};

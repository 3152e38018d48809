/** For tests of the library API: the labs they bring up and what else they make, undone after each test, also when it fails. */
import { afterEach } from 'vitest';
import { down, parseTopology } from '../../src/index.js';

export function labsUndoneAfterEach() {
  const labs: string[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const lab of labs.splice(0)) await down({ lab }).catch(() => undefined);
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });
  /** The topology `body` of lab `lab`, which is taken down after the test. */
  const topology = (lab: string, body: string) => {
    if (!labs.includes(lab)) labs.push(lab);
    return parseTopology(body, { source: 'test.yaml', defaultName: lab });
  };
  return { topology, cleanups };
}

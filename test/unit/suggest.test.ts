import { describe, expect, it } from 'vitest';
import { closest, didYouMean, editDistance, keysAt } from '../../src/topology/suggest.js';
import { topologySchema } from '../../src/topology/schema.js';
import { problems as problemLines } from '../helpers/topology.js';

const problems = (text: string) => problemLines(text).join('\n');

describe('did you mean', () => {
  it('counts edits, a swap of neighbours as one, without case', () => {
    expect(editDistance('contaners', 'containers')).toBe(1);
    expect(editDistance('wbe', 'web')).toBe(1);
    expect(editDistance('Publish', 'publish')).toBe(0);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  it('offers the nearest known word only when it is near, and Docker words by their netlab name', () => {
    expect(closest('contaners', ['name', 'firewall', 'hosts', 'networks', 'containers'])).toBe('containers');
    expect(closest('nowhere', ['n', 'front'])).toBeUndefined();
    expect(closest('ports', ['publish', 'expose'])).toBe('publish');
    expect(closest('environment', ['env', 'command'])).toBe('env');
    expect(closest('ports', ['expose'])).toBeUndefined();
    expect(didYouMean('frnt', ['front', 'back'])).toBe(': did you mean "front"?');
    expect(didYouMean('zzz', ['front', 'back'])).toBe('');
  });

  it('knows the keys at each place of the topology from its schema', () => {
    expect(keysAt(topologySchema, [])).toEqual(['name', 'firewall', 'hosts', 'networks', 'containers']);
    expect(keysAt(topologySchema, ['containers', 'web'])).toContain('publish');
    expect(keysAt(topologySchema, ['containers', 'web', 'healthcheck'])).toContain('interval');
    expect(keysAt(topologySchema, ['containers', 'web', 'networks', 'front'])).toEqual(['aliases', 'impair']);
    expect(keysAt(topologySchema, ['networks', 'front', 'vxlan'])).toEqual(['vni', 'port']);
    expect(keysAt(topologySchema, ['hosts', 'a'])).toEqual(['underlay']);
  });

  it('names the key or name meant, in every message about an unknown one', () => {
    expect(problems('contaners:\n  web: {}\n')).toContain('netlab.yaml:1: contaners: unknown key "contaners": did you mean "containers"?');
    const shape = problems('containers:\n  web:\n    ports: ["80"]\n    environment: { A: b }\n    healthcheck: { intervall: 1s }\n    colour: red\n');
    expect(shape).toContain('containers.web.ports: unknown key "ports": did you mean "publish"?');
    expect(shape).toContain('containers.web.environment: unknown key "environment": did you mean "env"?');
    expect(shape).toContain('containers.web.healthcheck.intervall: unknown key "intervall": did you mean "interval"?');
    expect(shape).toMatch(/containers\.web\.colour: unknown key "colour"$/m);
    const names = problems('networks:\n  front: {}\n  back: {}\ncontainers:\n  web: { networks: [frnt] }\n  client: { networks: [front], links: [wbe] }\n');
    expect(names).toContain('netlab.yaml:5: containers.web.networks[0]: unknown network "frnt": did you mean "front"?');
    expect(names).toContain('containers.client.links[0]: links to "wbe", which is not a container of this lab: did you mean "web"?');
    expect(problems('hosts:\n  alpha: { underlay: 192.168.56.11 }\ncontainers:\n  web: { host: alpa }\n')).toContain('unknown host "alpa": did you mean "alpha"? (hosts: alpha)');
  });
});

import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseTopology, DEMO_FILE } from '../../src/topology/load.js';
import { InputError } from '../../src/errors.js';

const parse = (text: string) => parseTopology(text, { source: 'netlab.yaml', defaultName: 'folder' });

function problems(text: string): string[] {
  try {
    parse(text);
  } catch (e) {
    if (e instanceof InputError) return e.message.split('\n');
    throw e;
  }
  throw new Error('expected an InputError');
}

describe('topology loading', () => {
  it('loads the built-in demo lab like any other file', () => {
    const t = parse(readFileSync(DEMO_FILE, 'utf8'));
    expect(t.name).toBe('demo');
    expect(t.networks).toMatchObject([{ name: 'netlab0', bridge: 'netlab0', icc: true, ipMasquerade: true, mtu: 1500 }]);
    const web = t.containers.find((c) => c.name === 'web')!;
    expect(web.publish).toEqual([{ hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, proto: 'tcp' }]);
    expect(t.containers.find((c) => c.name === 'client')!.links).toEqual([{ target: 'web', alias: 'webalias' }]);
  });

  it("defaults the lab name to the folder's and gives a network when none is named", () => {
    const t = parse('containers:\n  a: {}\n');
    expect(t.name).toBe('folder');
    expect(t.networks).toHaveLength(1);
    expect(t.networks[0]!.bridge).toMatch(/^nlbr[0-9a-f]{8}$/);
    expect(t.containers[0]!.networks).toEqual(['default']);
  });

  it('adds published ports to the exposed ones, as Docker\'s CLI does', () => {
    const t = parse('containers:\n  a: { expose: [53/udp], publish: ["8080:80"] }\n');
    expect(t.containers[0]!.expose).toEqual([{ port: 53, proto: 'udp' }, { port: 80, proto: 'tcp' }]);
  });

  it('names the YAML path and line of every problem, all of a kind at once', () => {
    expect(problems('name: lab\ncontainers:\n  web:\n    colour: blue\n    mtu: 9\n')).toEqual([
      'netlab.yaml:4: containers.web.colour: unknown key "colour"',
      'netlab.yaml:5: containers.web.mtu: unknown key "mtu"',
    ]);
    const text = ['name: lab', 'containers:', '  web:', '    publish: ["70000:80"]', '  c:', '    links: [nobody]', ''].join('\n');
    expect(problems(text)).toEqual([
      'netlab.yaml:4: containers.web.publish[0]: host port 70000 is out of range (1-65535)',
      'netlab.yaml:6: containers.c.links[0]: links to "nobody", which is not a container of this lab',
    ]);
    expect(problems('name: Bad Name\n')[0]).toMatch(/^netlab\.yaml:1: name: must be 1-16 characters/);
  });

  it('checks references and addresses across fields', () => {
    const text = [
      'networks:',
      '  n1: { subnet: 10.9.0.0/24 }',
      '  n2: { subnet: 10.9.1.0/24 }',
      'containers:',
      '  a: { networks: [n1], ip: 10.9.1.5 }',
      '  b: { networks: [n2], links: ["a:x"] }',
      '  c: { networks: [n3] }',
      '  d: { networks: [n1], links: [d] }',
      '  e: { networks: [n1], ip: 10.9.0.1 }',
      '',
    ].join('\n');
    const p = problems(text).join('\n');
    expect(p).toContain(':5: containers.a.ip: 10.9.1.5 is not a usable address');
    expect(p).toContain(':6: containers.b.links[0]: links to "a", which shares no network with "b"');
    expect(p).toContain(':7: containers.c.networks[0]: unknown network "n3"');
    expect(p).toContain(':8: containers.d.links[0]: a container cannot link to itself');
    expect(p).toContain(':9: containers.e.ip: 10.9.0.1 is the gateway of n1');
  });

  it('refuses YAML syntax errors, duplicate keys and link cycles', () => {
    expect(problems('containers:\n  a: [\n')[0]).toMatch(/^netlab\.yaml:\d+: YAML syntax/);
    expect(problems('containers:\n  a: {}\n  a: {}\n')[0]).toMatch(/YAML syntax: Map keys must be unique/);
    expect(problems('containers:\n  a: { links: [b] }\n  b: { links: [a] }\n').join()).toContain('links form a cycle: a -> b -> a');
  });

  it('refuses the same host port published twice', () => {
    expect(problems('containers:\n  a: { publish: ["80:80"] }\n  b: { publish: ["80:81"] }\n').join()).toContain('host port 80/tcp is already published by a');
  });
});

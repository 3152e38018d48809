/**
 * Concurrent runs through the CLI: the host lock serializes them. Two `up` of one lab: the second
 * waits, then has nothing to change. Several different labs at once: all come up on disjoint
 * subnets (picked under the lock), with every rule of every lab in place (a further `up` finds
 * nothing to change), and real traffic through each lab's published port.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, cli, httpGet, uniqueLab } from '../helpers/kernel.js';
import { netlabObjects } from '../helpers/leak-check.js';
import { overlaps, parseCidr } from '../../src/model/ipv4.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

const dir = tempDir('conc');
const labs: string[] = [];

function labFile(lab: string, port: number, subnet?: string): string {
  labs.push(lab);
  const file = join(dir, `${lab}.yaml`);
  const net = subnet ? `networks:\n  n: { subnet: ${subnet} }\n` : '';
  writeFileSync(file, `name: ${lab}\n${net}containers:\n  web:\n    publish: ["${port}:80"]\n    command: [netlab, serve, --port, "80"]\n  client: { links: [web] }\n`);
  return file;
}

const netlab = (args: string[]) => execa(process.execPath, [CLI, ...args], { reject: false, all: true, env: { NETLAB_LOG_LEVEL: 'warn' } });

afterAll(async () => {
  for (const lab of labs) await cli(['down', '--lab', lab]);
  removeTempDir(dir);
});

describe('concurrent runs', () => {
  it('two ups of the same lab at once: one builds it, the other waits and finds nothing to change', async () => {
    const lab = uniqueLab();
    const file = labFile(lab, 20560, '10.104.60.0/24');
    const [a, b] = await Promise.all([netlab(['up', '-f', file]), netlab(['up', '-f', file])]);
    expect(a.exitCode, a.all).toBe(0);
    expect(b.exitCode, b.all).toBe(0);
    const outs = [a.stdout, b.stdout];
    expect(outs.filter((o) => o.includes(`lab ${lab} is up:`))).toHaveLength(1);
    expect(outs.filter((o) => o.includes(`lab ${lab} is up to date`))).toHaveLength(1);
    expect(await httpGet('http://127.0.0.1:20560/whoami')).toBe('10.104.60.1\n');
    const [d1, d2] = await Promise.all([netlab(['down', '-f', file]), netlab(['down', '-f', file])]);
    expect([d1.exitCode, d2.exitCode]).toEqual([0, 0]);
    expect([d1.stdout, d2.stdout].filter((o) => o.includes('nothing was up'))).toHaveLength(1);
    expect(netlabObjects().filter((o) => o.includes(lab))).toEqual([]);
  });

  for (let round = 1; round <= 2; round++) {
    it(`round ${round}: four different labs at once get disjoint subnets, complete rules and working ports; four downs at once leave nothing`, async () => {
      const group = Array.from({ length: 4 }, (_, i) => ({ lab: uniqueLab(), port: 20570 + 10 * round + i }));
      const files = group.map((g) => labFile(g.lab, g.port));
      const ups = await Promise.all(files.map((f) => netlab(['up', '-f', f])));
      for (const r of ups) expect(r.exitCode, r.all).toBe(0);
      const subnets = ups.map((r) => parseCidr(/ (\d+\.\d+\.\d+\.\d+\/\d+)/.exec(r.stdout)![1]!)!);
      for (let i = 0; i < subnets.length; i++) for (let j = i + 1; j < subnets.length; j++) expect(overlaps(subnets[i]!, subnets[j]!)).toBe(false);
      // No rule lost: each lab's firewall, links and namespaces are exactly what it wants.
      for (const f of files) expect((await netlab(['up', '-f', f, '--dry-run'])).stdout.trim()).toBe('# nothing to change');
      for (const [i, g] of group.entries()) expect(await httpGet(`http://127.0.0.1:${g.port}/whoami`)).toBe(`${formatGateway(subnets[i]!)}\n`);
      const downs = await Promise.all(files.map((f) => netlab(['down', '-f', f])));
      for (const r of downs) expect(r.exitCode, r.all).toBe(0);
      expect(netlabObjects().filter((o) => group.some((g) => o.includes(g.lab)))).toEqual([]);
    });
  }
});

function formatGateway(c: { network: number }): string {
  const ip = c.network + 1;
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.');
}

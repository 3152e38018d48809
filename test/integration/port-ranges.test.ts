/**
 * A published port range is one rule, not one per port: `10000-19999:10000-19999` up with a
 * handful of rules, answering on its first, middle and last port; a shifted range maps port for
 * port; `ps` shows each as one range, as Docker prints it. Under both firewall backends.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { up, down, ps, parseTopology } from '../../src/index.js';
import { httpGet, uniqueLab } from '../helpers/kernel.js';
import { servers } from '../helpers/vhost.js';

const labs: string[] = [];
afterEach(async () => {
  for (const lab of labs.splice(0)) await down({ lab }).catch(() => undefined);
});

const topology = (lab: string, firewall: string) => {
  labs.push(lab);
  return parseTopology(
    `firewall: ${firewall}
networks:
  net: { subnet: 10.249.21.0/24 }
containers:
  wide:
    networks: [net]
    publish: ["10000-19999:10000-19999", "20000-20009:80-89", "20010-20019:20010-20019/udp"]
    command: ${servers('tcp:10000', 'tcp:15000', 'tcp:19999', 'tcp:80', 'tcp:89')}
`,
    { source: 'ranges.yaml', defaultName: lab },
  );
};

/** The lab's rules that name a port of the range, as the backend lists them. */
async function rangeRules(lab: string, firewall: string): Promise<string[]> {
  const text =
    firewall === 'iptables'
      ? (await Promise.all(['raw', 'nat', 'filter'].map((t) => execa('iptables-save', ['-t', t])))).map((r) => r.stdout).join('\n')
      : (await execa('nft', ['list', 'table', 'inet', 'netlab'])).stdout;
  return text.split('\n').filter((l) => l.includes(`netlab:${lab}"`) && /dport 10000[:-]19999/.test(l));
}

describe.each(['iptables', 'nftables'])('a published port range (%s)', (firewall) => {
  it('is up with at most 4 rules for 10,000 ports and answers on its first, middle and last port', async () => {
    const lab = uniqueLab();
    const started = performance.now();
    await up({ topology: topology(lab, firewall) });
    const seconds = (performance.now() - started) / 1000;
    console.log(`${firewall}: a 10,000-port range up in ${seconds.toFixed(2)} s`);
    expect(seconds).toBeLessThan(3);
    const rules = await rangeRules(lab, firewall);
    expect(rules.length).toBeGreaterThan(0);
    expect(rules.length).toBeLessThanOrEqual(4);
    for (const port of [10000, 15000, 19999]) expect(await httpGet(`http://127.0.0.1:${port}/`)).toMatch(/^wide /);
    // Shifted: 20000 → 80, 20009 → 89, and nothing in between listens.
    for (const port of [20000, 20009]) expect(await httpGet(`http://127.0.0.1:${port}/`)).toMatch(/^wide /);
    await expect(fetch('http://127.0.0.1:20005/', { signal: AbortSignal.timeout(1500) })).rejects.toThrow();
    const row = (await ps(lab)).find((r) => r.name === 'wide')!;
    expect(row.ports).toEqual(['0.0.0.0:10000-19999->10000-19999/tcp', '0.0.0.0:20000-20009->80-89/tcp', '0.0.0.0:20010-20019->20010-20019/udp']);
    await down({ lab });
  });
});

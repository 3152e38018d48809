/**
 * A published port range is one rule, not one per port: `10000-19999:10000-19999` up with a
 * handful of rules, answering on its first, middle and last port; a shifted range maps port for
 * port; `ps` shows each as one range, as Docker prints it. Under both firewall backends.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { up, down, ps, inspect, parseTopology } from '../../src/index.js';
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
    // Docker's inspect keys each port of a range: NetworkSettings.Ports and HostConfig.PortBindings.
    const doc = (await inspect(lab, 'wide')) as { NetworkSettings: { Ports: Record<string, { HostPort: string }[]> }; HostConfig: { PortBindings: Record<string, unknown[]> } };
    expect(Object.keys(doc.NetworkSettings.Ports)).toHaveLength(10020);
    expect(doc.NetworkSettings.Ports['15000/tcp']).toEqual([{ HostIp: '0.0.0.0', HostPort: '15000' }]);
    expect(doc.NetworkSettings.Ports['89/tcp']).toEqual([{ HostIp: '0.0.0.0', HostPort: '20009' }]);
    expect(Object.keys(doc.HostConfig.PortBindings)).toHaveLength(10020);
    await down({ lab });
  });
});

describe('separately published ports under nftables', () => {
  it('live in one map: a 1,000-port lab answers on a random sample of its ports, and a second up changes nothing', async () => {
    const lab = uniqueLab();
    labs.push(lab);
    // Every other port from 21000: no two follow one another, so none merge into a range.
    // Each to its own container port (host port + 1), so that the ACCEPT set has 1,000 elements too.
    const ports = Array.from({ length: 1000 }, (_, i) => 21000 + 2 * i);
    const sample = [...new Set([ports[0]!, ports[999]!, ...Array.from({ length: 6 }, () => ports[1 + Math.floor(Math.random() * 998)]!)])];
    const yaml = `firewall: nftables
networks:
  net: { subnet: 10.249.24.0/24 }
containers:
  many:
    networks: [net]
    publish: [${ports.map((p) => `"${p}:${p + 1}"`).join(', ')}]
    command: ${servers(...sample.map((p) => `tcp:${p + 1}`))}
`;
    const topo = () => parseTopology(yaml, { source: 'map.yaml', defaultName: lab });
    await up({ topology: topo() });
    const listed = (await execa('nft', ['list', 'chain', 'inet', 'netlab', `NL-${lab}-DNAT`])).stdout.split('\n').filter((l) => l.includes('dnat'));
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatch(/dnat ip to tcp dport map \{ 21000 : 10\.249\.24\.2 \. 21001, 21002 : /);
    for (const port of sample) expect(await httpGet(`http://127.0.0.1:${port}/`)).toMatch(/^many /);
    // A port between two published ones is not published.
    await expect(fetch('http://127.0.0.1:21001/', { signal: AbortSignal.timeout(1500) })).rejects.toThrow();
    expect((await up({ topology: topo() })).ops).toEqual([]);
    await down({ lab });
  });
});

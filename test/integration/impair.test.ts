/**
 * Link impairments on the real kernel: a rate measured through a tbf under both link backends,
 * netem refused before any change where the kernel has none, explain and inspect, drift and its
 * repair, `netlab impair` live and kept, and nothing left by `down`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { up, down, parseTopology } from '../../src/index.js';
import type { BackendName } from '../../src/index.js';
import { kernelHasNetem } from '../../src/kernel/tc.js';
import { NO_NETEM } from '../../src/engine/impair.js';
import { cli, uniqueLab } from '../helpers/kernel.js';
import { tempDir } from '../helpers/tmp.js';

const labs: string[] = [];
afterEach(async () => {
  for (const lab of labs.splice(0)) await down({ lab }).catch(() => undefined);
});
const dir = tempDir('impair');

const BYTES = 3_000_000;
/** srv sends BYTES to whoever connects; its eth0 (network n) is held to `rate`. */
const labFile = (lab: string, impair: string) => {
  labs.push(lab);
  const file = join(dir, `${lab}.yaml`);
  writeFileSync(
    file,
    `name: ${lab}
networks:
  n: { subnet: 10.237.61.0/24 }
  m: { subnet: 10.237.62.0/24 }
containers:
  srv:
    networks:
      n: { impair: ${impair} }
      m: {}
    command: [${process.execPath}, -e, "require('net').createServer((s) => s.end(Buffer.alloc(${BYTES}))).listen(5001)"]
  cli:
    networks: [n, m]
`,
  );
  return file;
};
const topology = (file: string, lab: string) => parseTopology(readFileSync(file, 'utf8'), { source: file, defaultName: lab });

/** Downloads BYTES from srv's address inside cli's namespace; megabits per second, first byte to last. */
async function measureMbit(lab: string, ip: string): Promise<number> {
  const script = `const s = require('net').connect(5001, '${ip}'); let n = 0, t0; s.on('data', (d) => { t0 ??= performance.now(); n += d.length; }); s.on('end', () => console.log(n, performance.now() - t0));`;
  for (let attempt = 0; ; attempt++) {
    const r = await execa('ip', ['netns', 'exec', `netlab-${lab}-cli`, process.execPath, '-e', script], { reject: false });
    const [n, ms] = r.stdout.trim().split(' ').map(Number);
    if (r.exitCode === 0 && n === BYTES) return (n! * 8) / (ms! / 1000) / 1e6;
    if (attempt > 40) throw new Error(`no transfer from ${ip}: ${r.stderr || r.stdout}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

const qdiscs = async (lab: string, ctr: string) => (await execa('tc', ['-n', `netlab-${lab}-${ctr}`, 'qdisc', 'show', 'dev', 'eth0'], { reject: false })).stdout;

describe('impair: rate', () => {
  for (const backend of ['netlink', 'iproute2'] as BackendName[]) {
    it(`holds what a container sends to its rate, measured (${backend} backend)`, async () => {
      const lab = uniqueLab();
      const file = labFile(lab, '{ rate: 10mbit }');
      await up({ topology: topology(file, lab), backend });
      expect(await qdiscs(lab, 'srv')).toMatch(/^qdisc tbf 1: root .*rate 10Mbit/);
      const shaped = await measureMbit(lab, '10.237.61.2');
      // The same server on its other network, without a tbf: the rate is the tbf's doing.
      const free = await measureMbit(lab, '10.237.62.2');
      console.log(`impair rate 10mbit (${backend}): measured ${shaped.toFixed(2)} Mbit/s; unimpaired interface ${free.toFixed(0)} Mbit/s`);
      expect(shaped).toBeGreaterThan(8);
      expect(shaped).toBeLessThan(12);
      expect(free).toBeGreaterThan(30);
    }, 120_000);
  }
});

describe('impair: netem', () => {
  it('is refused before any change where the kernel has no netem, naming the YAML line', async () => {
    const lab = uniqueLab();
    const file = labFile(lab, '{ delay: 20ms, loss: 1%, rate: 10mbit }');
    if (await kernelHasNetem()) {
      await up({ topology: topology(file, lab) });
      expect(await qdiscs(lab, 'srv')).toMatch(/netem 10: parent 1:1 .*delay 20ms.* loss 1%/);
      return;
    }
    const r = await cli(['up', '-f', file]);
    expect(r.exitCode).toBe(2);
    expect(r.all).toContain(`${file}:8: containers.srv.networks.n.impair: ${NO_NETEM}`);
    expect((await execa('ip', ['netns', 'list'])).stdout).not.toContain(`netlab-${lab}-`);
    expect(existsSync(`/run/netlab/${lab}/state.json`)).toBe(false);
  });
});

describe('impair: explain, inspect, drift, live changes, down', () => {
  it('is shown, repaired after a tc qdisc del, changed live and kept, and gone with down', async () => {
    const lab = uniqueLab();
    const file = labFile(lab, '{ rate: 10mbit }');
    const explain = (await cli(['explain', '-f', file])).stdout;
    expect(explain).toContain(`tc -n netlab-${lab}-srv qdisc replace dev eth0 root handle 1: tbf rate 10000000bit burst 16384 latency 50ms`);
    expect(explain).toMatch(/# tbf \(token bucket filter\) at the root, handle 1:, holds srv's packets to 10mbit/);
    expect((await cli(['up', '-q', '-f', file])).exitCode).toBe(0);
    const doc = JSON.parse((await cli(['inspect', '-l', lab, 'srv', '--json'])).stdout)[0];
    expect(doc.NetworkSettings.Networks.n.Impairment).toMatchObject({ rate: '10mbit', Source: 'containers.srv.networks.n.impair' });
    expect(doc.NetworkSettings.Networks.m.Impairment).toBeNull();

    await execa('tc', ['-n', `netlab-${lab}-srv`, 'qdisc', 'del', 'dev', 'eth0', 'root']);
    const drifted = await cli(['status', '-l', lab]);
    expect(drifted.exitCode).toBe(3);
    expect(drifted.stdout).toContain('1 link impairment (tc qdisc) to set');
    expect((await cli(['up', '-q', '-f', file])).exitCode).toBe(0);
    expect(await qdiscs(lab, 'srv')).toMatch(/tbf 1: root .*rate 10Mbit/);
    expect((await cli(['status', '-l', lab])).exitCode).toBe(0);

    // Live: applied at once, in sync for status, kept by up, until --reset.
    const live = await cli(['impair', '-l', lab, 'srv', '--network', 'n', '--rate', '5mbit']);
    expect(live.all).toContain('srv eth0 (network n): rate 5mbit');
    expect(await qdiscs(lab, 'srv')).toMatch(/rate 5Mbit/);
    expect((await cli(['status', '-l', lab])).exitCode).toBe(0);
    expect((await up({ topology: topology(file, lab) })).ops).toEqual([]);
    expect((await cli(['impair', '-l', lab, 'cli', '--rate', '2mbit'])).exitCode).toBe(0);
    expect(await qdiscs(lab, 'cli')).toMatch(/rate 2Mbit/);
    expect((await cli(['impair', '-l', lab, 'cli', '--clear'])).exitCode).toBe(0);
    expect(await qdiscs(lab, 'cli')).not.toContain('tbf');
    const bad = await cli(['impair', '-l', lab, 'srv', '--loss', '150%']);
    expect(bad.exitCode).toBe(2);
    expect(bad.all).toContain('--loss: "150%" is out of range: loss is between 0% and 100%');
    expect(await qdiscs(lab, 'srv')).toMatch(/rate 5Mbit/);
    expect((await cli(['impair', '-l', lab, 'srv', '--reset'])).exitCode).toBe(0);
    expect(await qdiscs(lab, 'srv')).toMatch(/rate 10Mbit/);

    // The file without impair: up removes the qdisc.
    writeFileSync(file, readFileSync(file, 'utf8').replace('{ impair: { rate: 10mbit } }', '{}'));
    const r = await up({ topology: topology(file, lab) });
    expect(r.ops.map((o) => o.kind)).toEqual(['tc.set']);
    expect(await qdiscs(lab, 'srv')).not.toContain('tbf');
    expect((await cli(['impair', '-l', lab, 'srv', '--rate', '1mbit'])).exitCode).toBe(0);
    await down({ lab });
    expect(existsSync(`/run/netlab/${lab}`)).toBe(false);
    expect((await execa('ip', ['netns', 'list'])).stdout).not.toContain(`netlab-${lab}-`);
  }, 240_000);
});

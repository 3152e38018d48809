/**
 * Multi-host labs simulated on this machine: every host a namespace on one underlay bridge,
 * each running its own share (and its own Open vSwitch). Real packets cross real tunnels.
 */
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { cli, sh, uniqueLab } from '../helpers/kernel.js';
import { netlabObjects } from '../helpers/leak-check.js';
import { simName } from '../../src/model/names.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir('multihost');

const haveOvs = (await sh('ovs-vsctl', ['--version'])).exitCode === 0;

/**
 * A simulated `up` or `down` takes 2-10 s here; one that hangs is cut at RUN_MS, and a test gets
 * room for its up, its checks and its down (a test that times out cannot take its lab down).
 */
const RUN_MS = 40_000;
const TEST_MS = 3 * RUN_MS;

/** A lab of `n` hosts, one container per host, all on one overlay network of `driver`. */
function overlayLab(lab: string, n: number, driver: 'bridge' | 'ovs', third: number): string {
  const hosts = Array.from({ length: n }, (_, i) => `  h${i + 1}: { underlay: 10.105.${third}.${11 + i} }`);
  const ctrs = Array.from({ length: n }, (_, i) =>
    [`  c${i + 1}:`, `    host: h${i + 1}`, '    expose: [80]', '    command: [netlab, serve, --port, "80"]', ...(i > 0 ? ['    links: ["c1:first"]'] : [])].join('\n'),
  );
  const text = [`name: ${lab}`, 'hosts:', ...hosts, 'networks:', `  over: { subnet: 10.105.${third + 1}.0/24, driver: ${driver}, vxlan: { vni: ${100 + third} } }`, 'containers:', ...ctrs, ''].join(
    '\n',
  );
  const file = join(dir, `${lab}.yaml`);
  writeFileSync(file, text);
  return file;
}

const exec = (lab: string, ctr: string, ...cmd: string[]) => cli(['exec', '-l', lab, ctr, '--', ...cmd]);

/** Retries a command inside a container until it succeeds (servers and bridge ports need a moment). */
async function eventually(lab: string, ctr: string, cmd: string[], ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await exec(lab, ctr, ...cmd);
    if (r.exitCode === 0 || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 250));
  }
}

/** Captures UDP packets from one VTEP to another's `port` on the underlay bridge (root namespace) while `action` runs. */
async function capture(lab: string, from: string, to: string, port: number, action: () => Promise<unknown>): Promise<string> {
  const filter = `udp dst port ${port} and src host ${from} and dst host ${to}`;
  const tcpdump = execa('timeout', ['8', 'tcpdump', '-l', '-n', '-c', '2', '-i', simName.underlayBridge(lab), filter], { reject: false, all: true });
  await new Promise((r) => setTimeout(r, 700));
  await action();
  return String((await tcpdump).all);
}

for (const driver of ['bridge', 'ovs'] as const) {
  for (const n of [2, 3]) {
    const third = (driver === 'ovs' ? 20 : 0) + n * 4;
    describe.skipIf(driver === 'ovs' && !haveOvs)(`${n} simulated hosts joined by ${driver === 'ovs' ? 'Open vSwitch' : 'a Linux VXLAN device'}`, () => {
      it(
        'carries ping and HTTP between every pair, by name and link alias, through the tunnel, at the overlay MTU',
        async () => {
          const lab = uniqueLab();
          const file = overlayLab(lab, n, driver, third);
          try {
            const up = await cli(['up', '--simulate', '-f', file], { timeoutMs: RUN_MS });
            expect(up.exitCode, up.all).toBe(0);
            expect(up.stdout).toContain(`lab ${lab} is up on ${n} simulated hosts`);

            // c2 (host h2) reaches c1 (host h1) by link alias and name; its address is kept across hosts.
            const web = await eventually(lab, 'c2', ['curl', '-s', '-m', '3', 'http://first/whoami']);
            expect(web.stdout.trim()).toBe(`10.105.${third + 1}.${n + 2}`);
            expect((await exec(lab, 'c2', 'ping', '-c1', '-W2', 'c1')).exitCode).toBe(0);
            for (let a = 1; a <= n; a++) {
              for (let b = 1; b <= n; b++) if (a !== b) expect((await eventually(lab, `c${a}`, ['ping', '-c1', '-W2', `c${b}`])).exitCode, `c${a} -> c${b}`).toBe(0);
            }

            // Full-size frames cross with DF set; one byte more does not fit the 1450-byte overlay MTU.
            expect((await exec(lab, 'c2', 'ping', '-c1', '-W2', '-M', 'do', '-s', '1422', 'c1')).exitCode).toBe(0);
            expect((await exec(lab, 'c2', 'ping', '-c1', '-W2', '-M', 'do', '-s', '1423', 'c1')).exitCode).not.toBe(0);

            // The packets really are VXLAN on the underlay.
            const seen = await capture(lab, `10.105.${third}.12`, `10.105.${third}.11`, 4789, () => exec(lab, 'c2', 'ping', '-c3', '-i', '0.2', 'c1'));
            expect(seen).toMatch(new RegExp(`10\\.105\\.${third}\\.12\\.\\d+ > 10\\.105\\.${third}\\.11\\.4789: VXLAN.*vni ${100 + third}`));

            expect((await cli(['up', '--simulate', '-f', file], { timeoutMs: RUN_MS })).stdout.match(/nothing to change/g)?.length).toBe(n);
            expect((await cli(['ps', '-l', lab])).stdout).toMatch(/h1\s+c1\s+Up /);
          } finally {
            const down = await cli(['down', '-f', file], { timeoutMs: RUN_MS });
            expect(down.exitCode, down.all).toBe(0);
          }
          expect(netlabObjects().filter((o) => o.includes(lab))).toEqual([]);
          expect((await sh('pgrep', ['-f', `/run/netlab/${lab}/`])).stdout).toBe('');
        },
        TEST_MS,
      );
    });
  }
}

describe('the README example (Linux VXLAN and Open vSwitch in one lab)', () => {
  it.skipIf(!haveOvs)(
    'runs with --simulate, and b reaches a by its link alias over both overlays',
    async () => {
      const lab = uniqueLab();
      const file = join(dir, 'example.yaml');
      const example = (await import('node:fs')).readFileSync(new URL('../../examples/multihost.yaml', import.meta.url), 'utf8');
      writeFileSync(file, example.replace('name: multihost', `name: ${lab}`).replaceAll('192.168.56.', '10.105.60.').replaceAll('10.200.0.', '10.105.61.').replaceAll('10.201.0.', '10.105.62.'));
      try {
        const up = await cli(['up', '--simulate', '-f', file], { timeoutMs: RUN_MS });
        expect(up.exitCode, up.all).toBe(0);
        expect((await eventually(lab, 'b', ['curl', '-s', '-m', '3', 'http://alpha/whoami'])).stdout.trim()).toBe('10.105.61.4');
        expect((await eventually(lab, 'b', ['curl', '-s', '-m', '3', 'http://10.105.62.3/whoami'])).stdout.trim()).toBe('10.105.62.4');
        expect((await exec(lab, 'b', 'sh', '-c', 'echo $ALPHA_PORT_80_TCP_ADDR')).stdout.trim()).toBe('10.105.61.3');
      } finally {
        await cli(['down', '-f', file], { timeoutMs: RUN_MS });
      }
      expect(netlabObjects().filter((o) => o.includes(lab))).toEqual([]);
    },
    TEST_MS,
  );
});

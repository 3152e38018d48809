/**
 * Isolation between labs for every mix of firewall backends, with real packets: TCP to a
 * published container's port by its address, and ping, both ways; each lab still works inside
 * and through its published port; taking one lab down leaves the others' isolation and rules
 * intact, and the last down leaves nothing of netlab's; a shared rule deleted by hand is drift
 * that `up` repairs; two `up`s of different backends at once lose none of each other's rules.
 * Each case runs in a throwaway host namespace (helpers/vhost.ts) that owns its firewall.
 */
import { describe, expect, it } from 'vitest';
import { uniqueLab } from '../helpers/kernel.js';
import { servers, withVirtualHost, type VirtualHost } from '../helpers/vhost.js';
import { curlVia } from '../helpers/vhost.js';

type Backend = 'iptables' | 'nftables';
const MIXES: [Backend, Backend][] = [
  ['iptables', 'nftables'],
  ['nftables', 'iptables'],
  ['iptables', 'iptables'],
  ['nftables', 'nftables'],
];

const ctr = (lab: string, name: string) => `netlab-${lab}-${name}`;

const READY = { retryMs: 10_000 };
const ping = async (h: VirtualHost, ns: string, addr: string) => (await h.runIn(ns, ['ping', '-c', '1', '-W', '1', addr])).exitCode === 0;

/** A lab with a published web server and a second container on one network. */
const labYaml = (backend: Backend, subnet: string, port: number) =>
  `firewall: ${backend}\nnetworks:\n  n: { subnet: ${subnet} }\ncontainers:\n  web: { publish: ["${port}:80"], command: ${servers('tcp:80')} }\n  peer: { command: ${servers('tcp:80')} }\n`;

interface TestLab {
  name: string;
  web: string;
  peer: string;
  port: number;
}

/** Neither lab's containers reach the other's, by TCP to the published container port or by ping. */
async function expectIsolated(h: VirtualHost, a: TestLab, b: TestLab): Promise<void> {
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    // The servers answer (inside their own lab) before the forbidden path is tried.
    expect(await curlVia(h, ctr(to.name, 'peer'), `http://${to.web}/`, READY)).toBe(`web ${to.peer}`);
    expect(await curlVia(h, ctr(from.name, 'web'), `http://${to.web}/`, { timeoutS: 1 }), `${from.name} -> ${to.name} tcp`).toBeUndefined();
    expect(await ping(h, ctr(from.name, 'web'), to.web), `${from.name} -> ${to.name} ping`).toBe(false);
  }
}

/** The lab works inside (TCP and ping between its containers) and from the LAN through its published port. */
async function expectWorking(h: VirtualHost, l: TestLab): Promise<void> {
  expect(await curlVia(h, ctr(l.name, 'peer'), `http://${l.web}/`, READY)).toBe(`web ${l.peer}`);
  expect(await ping(h, ctr(l.name, 'peer'), l.web)).toBe(true);
  expect(await curlVia(h, h.lan.ns, `http://${h.lan.hostAddr}:${l.port}/`, READY)).toBe(`web ${h.lan.peerAddr}`);
  expect(await curlVia(h, undefined, `http://127.0.0.1:${l.port}/`, READY)).toMatch(/^web /);
}

async function upLab(h: VirtualHost, backend: Backend, net: number, port: number): Promise<TestLab> {
  const name = uniqueLab();
  const r = await h.up(name, labYaml(backend, `10.242.${net}.0/24`, port));
  expect(r.exitCode, r.all).toBe(0);
  return { name, web: `10.242.${net}.2`, peer: `10.242.${net}.3`, port };
}

/** Everything of netlab's in the virtual host's firewall (both backends). */
async function netlabRules(h: VirtualHost): Promise<string[]> {
  const ipt = (await h.run(['iptables-save'])).stdout.split('\n').filter((l) => /netlab|NL-/.test(l));
  const nft = (await h.run(['nft', 'list', 'tables'])).stdout.split('\n').filter((l) => l.includes('netlab'));
  return [...ipt, ...nft];
}

describe.each(MIXES.map((m, i) => [m[0], m[1], i] as const))('isolation between a lab on %s and a lab on %s', (first, second, mi) => {
  const net = (n: number) => mi * 8 + n;
  const port = (n: number) => 42000 + mi * 20 + n;

  it('blocks TCP to the published port and ping both ways; each lab works inside and from outside; downs keep the rest intact and the last leaves nothing', async () => {
    await withVirtualHost(40 + mi, async (h) => {
      const a = await upLab(h, first, net(0), port(0));
      const b = await upLab(h, second, net(1), port(1));
      await expectWorking(h, a);
      await expectWorking(h, b);
      await expectIsolated(h, a, b);

      // A third lab on the first backend; then the first lab goes: the two left stay isolated,
      // their rules in sync, their ports working.
      const c = await upLab(h, first, net(2), port(2));
      await expectIsolated(h, b, c);
      expect((await h.netlab(['down', '--lab', a.name])).exitCode).toBe(0);
      for (const l of [b, c]) {
        const st = await h.netlab(['status', '--lab', l.name]);
        expect(st.exitCode, st.all).toBe(0);
        await expectWorking(h, l);
      }
      await expectIsolated(h, b, c);

      expect((await h.netlab(['down', '--lab', b.name])).exitCode).toBe(0);
      expect((await h.netlab(['status', '--lab', c.name])).exitCode).toBe(0);
      await expectWorking(h, c);
      expect((await h.netlab(['down', '--lab', c.name])).exitCode).toBe(0);
      expect(await netlabRules(h)).toEqual([]);
    });
  }, 180_000);
});

describe('the shared isolation rules of an nftables lab beside an iptables lab', () => {
  it('a rule deleted by hand is drift (exit 3) that up repairs; switching backends keeps the isolation and leaves nothing behind', async () => {
    await withVirtualHost(44, async (h) => {
      const a = await upLab(h, 'iptables', 40, 42100);
      const b = await upLab(h, 'nftables', 41, 42101);
      // b's bridge is listed in the iptables stages: deleting its two rules there lets b reach a's published port.
      const bRules = (await h.run(['iptables-save', '-t', 'filter'])).stdout.split('\n').filter((l) => /^-A NL-ISOLATION-[12] /.test(l) && l.includes(`"netlab:${b.name}"`));
      expect(bRules).toHaveLength(2);
      for (const rule of bRules)
        expect(
          (
            await h.run([
              'iptables',
              ...rule
                .replace(/^-A /, '-D ')
                .split(' ')
                .map((w) => w.replaceAll('"', '')),
            ])
          ).exitCode,
        ).toBe(0);
      expect(await curlVia(h, ctr(b.name, 'web'), `http://${a.web}/`, READY)).toBe(`web 10.242.40.1`);
      const drift = await h.netlab(['status', '--lab', b.name]);
      expect(drift.exitCode, drift.all).toBe(3);
      for (const rule of bRules) expect(drift.stdout).toContain(`missing rule: ${rule}`);
      expect((await h.netlab(['status', '--lab', a.name])).exitCode).toBe(0);
      const repair = await h.up(b.name, labYaml('nftables', '10.242.41.0/24', 42101));
      expect(repair.exitCode, repair.all).toBe(0);
      expect((await h.netlab(['status', '--lab', b.name])).exitCode).toBe(0);
      await expectIsolated(h, a, b);

      // b moves to iptables and back: isolated all along, and no rule of the other backend left.
      const moved = await h.up(b.name, labYaml('iptables', '10.242.41.0/24', 42101));
      expect(moved.exitCode, moved.all).toBe(0);
      expect((await h.run(['nft', 'list', 'tables'])).stdout).not.toContain('netlab');
      await expectIsolated(h, a, b);
      const back = await h.up(b.name, labYaml('nftables', '10.242.41.0/24', 42101));
      expect(back.exitCode, back.all).toBe(0);
      expect((await h.run(['iptables-save'])).stdout).not.toContain(`NL-${b.name}-`);
      for (const l of [a, b]) expect((await h.netlab(['status', '--lab', l.name])).exitCode).toBe(0);
      await expectIsolated(h, a, b);
    });
  }, 180_000);

  it("two ups at once, one per backend, lose none of each other's rules", async () => {
    await withVirtualHost(45, async (h) => {
      const [a, b] = [uniqueLab(), uniqueLab()];
      const [ya, yb] = [labYaml('iptables', '10.242.42.0/24', 42110), labYaml('nftables', '10.242.43.0/24', 42111)];
      const ups = await Promise.all([h.up(a, ya), h.up(b, yb)]);
      for (const r of ups) expect(r.exitCode, r.all).toBe(0);
      for (const [lab, yaml] of [
        [a, ya],
        [b, yb],
      ]) {
        const file = h.labFile(lab!);
        expect(yaml).toBeDefined();
        expect((await h.netlab(['up', '--dry-run', '-f', file, '--lab', lab!])).stdout.trim()).toBe('# nothing to change');
      }
      await expectIsolated(h, { name: a, web: '10.242.42.2', peer: '10.242.42.3', port: 42110 }, { name: b, web: '10.242.43.2', peer: '10.242.43.3', port: 42111 });
      const downs = await Promise.all([h.netlab(['down', '--lab', a]), h.netlab(['down', '--lab', b])]);
      for (const r of downs) expect(r.exitCode, r.all).toBe(0);
      expect(await netlabRules(h)).toEqual([]);
    });
  }, 120_000);
});

/**
 * Interrupted runs, through the real CLI: `netlab up` and `netlab down` are killed (SIGKILL)
 * right after each kind of Op (the first and the last of each), then the next run must repair
 * the lab (full lab, real traffic, a further `up` changes nothing) and `down` must leave nothing;
 * likewise killed inside `ip netns add`, between the namespace's file and its bind.
 * Ctrl-C (SIGINT to the process group, as a terminal sends it) stops `up` between two steps.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { down, up, parseTopology, type Op } from '../../src/index.js';
import { stateFile } from '../../src/paths.js';
import { CLI, cli, curlIn, httpGet, uniqueLab } from '../helpers/kernel.js';
import { netlabObjects } from '../helpers/leak-check.js';
import { freePorts } from '../helpers/ports.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

const lab = uniqueLab();
const PORT = await freePorts();
const yaml = `name: ${lab}
networks:
  n: { subnet: 10.104.10.0/24, ipv6: true, subnet6: "fd31:104:10::/64" }
containers:
  web:
    publish: ["${PORT}:80"]
    command: [netlab, serve, --port, "80"]
  client:
    links: ["web:w"]
    command: "exec sleep 600"
`;
const dir = tempDir('crash');
const file = join(dir, 'netlab.yaml');
writeFileSync(file, yaml);

afterAll(async () => {
  await cli(['down', '--lab', lab]);
  removeTempDir(dir);
});

// A failed test's lab is taken down, or every later test would find it up.
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') await run(['down']);
});

/**
 * Killed at `point`. Host-wide sysctls are set by the first lab of the host and put back by the
 * last (engine/hostrecord.ts): how many a run sets depends on the labs other test files have up at
 * that moment, so a `sysctl.set` point planned before may not come; that run must then succeed.
 */
function expectKilled(r: { signal?: string; exitCode?: number; all?: string }, point: string): void {
  if (point.startsWith('sysctl.set:') && r.signal === undefined) expect(r.exitCode, r.all).toBe(0);
  else expect(r.signal, r.all).toBe('SIGKILL');
}

/** (kind, n): after the first and after the last Op of each kind. */
function faultPoints(ops: Op[]): string[] {
  const counts = new Map<string, number>();
  for (const o of ops) counts.set(o.kind, (counts.get(o.kind) ?? 0) + 1);
  return [...counts].flatMap(([kind, n]) => (n > 1 ? [`${kind}:1`, `${kind}:${n}`] : [`${kind}:1`]));
}

const run = (args: string[], env: Record<string, string> = {}) => execa(process.execPath, [CLI, ...args, '-f', file], { reject: false, all: true, env: { NETLAB_LOG_LEVEL: 'warn', ...env } });

const leftovers = () => netlabObjects().filter((o) => o.includes(lab));

async function expectWorkingLab(): Promise<void> {
  const again = await run(['up']);
  expect(again.all).toContain('up to date');
  expect(await httpGet(`http://127.0.0.1:${PORT}/whoami`)).toBe('10.104.10.1\n');
  expect(await curlIn(`netlab-${lab}-client`, 'http://w/whoami', { retryMs: 5000 })).toBe('10.104.10.3');
  // IPv6 too: the client's address, route and hosts line (the link's IPv6 line) came back.
  expect((await execa('ip', ['netns', 'exec', `netlab-${lab}-client`, 'ping', '-6', '-c1', '-W2', 'w'], { reject: false })).exitCode).toBe(0);
  const ps = (await cli(['ps', '--lab', lab])).stdout;
  expect(ps).toMatch(/web\s+Up /);
  expect(ps).toMatch(/client\s+Up /);
}

const topo = parseTopology(yaml, { source: file, defaultName: lab });
await up({ topology: topo });
const downPoints = faultPoints((await down({ lab, dryRun: true })).ops);
await down({ lab });
// Planned after a first up: the host-wide settings it makes (forwarding) stay, and no later up makes them again.
const upPoints = faultPoints((await up({ topology: topo, dryRun: true })).ops);

describe('netlab up killed after each kind of Op', () => {
  it('injects at every kind of Op a fresh up performs', () => {
    for (const k of ['netns.add', 'bridge.add', 'veth.add', 'link.set', 'addr.add', 'route.replace', 'sysctl.set', 'file.write', 'uts.add', 'firewall.apply', 'process.start'])
      expect(upPoints.some((p) => p.startsWith(`${k}:`))).toBe(true);
  });

  it.each(upPoints)('killed after %s: the next up repairs the lab and down leaves nothing', async (point) => {
    expectKilled(await run(['up'], { NETLAB_FAULT_AFTER: point }), point);
    const repaired = await run(['up']);
    expect(repaired.exitCode, repaired.all).toBe(0);
    await expectWorkingLab();
    {
      const d = await run(['down']);
      expect(d.exitCode, d.all).toBe(0);
    }
    expect(leftovers()).toEqual([]);
  });
});

describe('netlab up killed inside an Op', () => {
  it('between a namespace file and its bind: the empty file is cleared, the next up repairs the lab and down leaves nothing', async () => {
    const killed = await run(['up'], { NETLAB_FAULT_AFTER: 'netns.file' });
    expect(killed.signal, killed.all).toBe('SIGKILL');
    expect(readdirSync('/run/netns').filter((ns) => ns.startsWith(`netlab-${lab}-`))).toHaveLength(1);
    const repaired = await run(['up']);
    expect(repaired.exitCode, repaired.all).toBe(0);
    await expectWorkingLab();
    {
      const d = await run(['down']);
      expect(d.exitCode, d.all).toBe(0);
    }
    expect(leftovers()).toEqual([]);
  });

  it('between a namespace file and its bind: down clears the empty file', async () => {
    expect((await run(['up'], { NETLAB_FAULT_AFTER: 'netns.file' })).signal).toBe('SIGKILL');
    {
      const d = await run(['down']);
      expect(d.exitCode, d.all).toBe(0);
    }
    expect(leftovers()).toEqual([]);
  });
});

describe('netlab down killed after each kind of Op', () => {
  it('injects at every kind of Op a down performs', () => {
    for (const k of ['process.stop', 'firewall.remove', 'link.del', 'netns.del', 'uts.del', 'file.del']) expect(downPoints.some((p) => p.startsWith(`${k}:`))).toBe(true);
  });

  it.each(downPoints)('killed after %s: up repairs the lab, and the next down leaves nothing', async (point) => {
    expect((await run(['up'])).exitCode).toBe(0);
    expectKilled(await run(['down'], { NETLAB_FAULT_AFTER: point }), point);
    const repaired = await run(['up']);
    expect(repaired.exitCode, repaired.all).toBe(0);
    await expectWorkingLab();
    expectKilled(await run(['down'], { NETLAB_FAULT_AFTER: point }), point);
    {
      const d = await run(['down']);
      expect(d.exitCode, d.all).toBe(0);
    }
    expect(leftovers()).toEqual([]);
  });
});

describe('Ctrl-C during up', () => {
  for (const point of ['netns.add:1', 'file.write:3']) {
    it(`after ${point}: finishes the step in hand, saves the state, says what to do; up then down repair`, async () => {
      // Its own process group, like a shell job: the SIGINT goes to netlab and every program it runs.
      const r = await execa(process.execPath, [CLI, 'up', '-f', file], {
        reject: false,
        all: true,
        detached: true,
        env: { NETLAB_LOG_LEVEL: 'warn', NETLAB_FAULT_AFTER: point, NETLAB_FAULT_SIGNAL: 'SIGINT' },
      });
      expect(r.exitCode, r.all).toBe(130);
      expect(r.all).toContain('finishing the step in hand');
      expect(r.all).toMatch(/interrupted after \d+ of \d+ changes: lab \S+ is partly up/);
      expect(r.all).toContain('Run "netlab up" to finish it, or "netlab down" to remove it.');
      expect(r.all).not.toContain('unexpected error');
      expect(existsSync(stateFile(lab))).toBe(true);
      expect((await run(['up'])).exitCode).toBe(0);
      await expectWorkingLab();
      {
        const d = await run(['down']);
        expect(d.exitCode, d.all).toBe(0);
      }
      expect(leftovers()).toEqual([]);
    });
  }
});

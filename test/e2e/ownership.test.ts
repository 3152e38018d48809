/**
 * Only the kernel's marks say what is netlab's, through the real CLI (both backends): an empty
 * /run/netns file left by a killed `ip netns add` is cleared; a link or namespace with the lab's
 * name but not its mark stops `up` (exit 2, named) and is left by `down`; a symbolic link planted
 * where netlab keeps its own file or folder is refused, never written through or removed behind;
 * a container's command left running in a namespace deleted by hand is stopped; an Open vSwitch
 * bridge with the lab's name but not its mark is not taken over.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { etcNetnsDir, labDir, logPath, ovsRunDir, stateFile, utsPath } from '../../src/paths.js';
import { ovsName } from '../../src/model/names.js';
import { CLI, uniqueLab } from '../helpers/kernel.js';
import { netlabObjects } from '../helpers/leak-check.js';
import { markedProcesses } from '../helpers/marks.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

const lab = uniqueLab();
const bridge = `xb${randomBytes(3).toString('hex')}`;
const ns = `netlab-${lab}-c`;
const yaml = (command = 'exec sleep 600') => `name: ${lab}
networks:
  n: { subnet: 10.241.7.0/24, bridge: ${bridge} }
containers:
  c:
    command: "${command}"
`;
const dir = tempDir('own');
const file = join(dir, 'netlab.yaml');

const run = (args: string[]) => execa(process.execPath, [CLI, ...args, '-f', file], { reject: false, all: true, env: { NETLAB_LOG_LEVEL: 'warn' } });
const ip = (...args: string[]) => execa('ip', args, { reject: false, all: true });
const leftovers = () => netlabObjects().filter((o) => o.includes(lab));
/** Pids of the processes that carry the lab's mark in their environment. */
const markedPids = () => markedProcesses('NETLAB_LAB', lab).map((m) => m.pid);
const alive = (pid: number) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z');
const startedPid = () => (JSON.parse(readFileSync(stateFile(lab), 'utf8')) as { started: Record<string, { pid: number }> }).started.c!.pid;

/** Removes what a test planted, whatever it left. */
const planted: string[] = [];
const plant = (path: string, target: string) => {
  symlinkSync(target, path);
  planted.push(path);
};

beforeEach(() => writeFileSync(file, yaml()));

afterAll(async () => {
  for (const p of planted) rmSync(p, { force: true });
  await ip('link', 'del', bridge);
  await run(['down']);
  removeTempDir(dir);
});

async function downClean(): Promise<void> {
  for (const p of planted.splice(0)) rmSync(p, { force: true });
  const r = await run(['down']);
  expect(r.exitCode, r.all).toBe(0);
  expect(leftovers()).toEqual([]);
}

describe('an empty /run/netns file with the lab name (a run killed before the bind)', () => {
  it('up binds the namespace on it, marked, and the lab works', async () => {
    writeFileSync(`/run/netns/${ns}`, '');
    try {
      const r = await run(['up']);
      expect(r.exitCode, r.all).toBe(0);
      expect((await ip('-n', ns, 'link', 'show', 'lo')).stdout).toContain(`alias netlab:${lab}:ctr:c`);
      expect((await run(['up'])).all).toContain('up to date');
    } finally {
      await downClean();
    }
  });

  it('down clears it, also with no state file', async () => {
    writeFileSync(`/run/netns/${ns}`, '');
    const r = await run(['down']);
    expect(r.exitCode, r.all).toBe(0);
    expect(existsSync(`/run/netns/${ns}`)).toBe(false);
  });
});

describe('an object with the lab name that the lab did not make', () => {
  it('a veth pair made by hand under the lab bridge name: up stops naming it, down leaves it', async () => {
    expect((await run(['up'])).exitCode).toBe(0);
    try {
      await ip('link', 'del', bridge);
      expect((await ip('link', 'add', bridge, 'type', 'veth', 'peer', 'name', `${bridge}p`)).exitCode).toBe(0);
      const r = await run(['up']);
      expect(r.exitCode, r.all).toBe(2);
      expect(r.all).toContain(`link ${bridge} (no netlab mark)`);
      expect((await ip('-d', 'link', 'show', bridge)).stdout).toContain('veth');
      const d = await run(['down']);
      expect(d.exitCode, d.all).toBe(0);
      expect(d.all).toMatch(new RegExp(`left alone.*link ${bridge}`));
      expect((await ip('-d', 'link', 'show', bridge)).stdout).toContain('veth');
    } finally {
      await ip('link', 'del', bridge);
      await downClean();
    }
  });

  it('a namespace made by hand under a container name: up stops naming it, down leaves it', async () => {
    expect((await run(['up'])).exitCode).toBe(0);
    try {
      await ip('netns', 'del', ns);
      expect((await ip('netns', 'add', ns)).exitCode).toBe(0);
      const r = await run(['up']);
      expect(r.exitCode, r.all).toBe(2);
      expect(r.all).toContain(`network namespace ${ns} (no netlab mark)`);
      const d = await run(['down']);
      expect(d.exitCode, d.all).toBe(0);
      expect(d.all).toMatch(new RegExp(`left alone.*network namespace ${ns}`));
      expect(existsSync(`/run/netns/${ns}`)).toBe(true);
    } finally {
      // Once the namespace is gone, the lab takes its name (and its /etc/netns folder) back.
      await ip('netns', 'del', ns);
      expect((await run(['up'])).exitCode).toBe(0);
      await downClean();
    }
  });
});

describe('a container command left running in a namespace deleted by hand', () => {
  it('up repairs the container and stops the old command', async () => {
    expect((await run(['up'])).exitCode).toBe(0);
    try {
      // The command runs under its monitor: the state records the monitor, the mark is on the command.
      const old = [startedPid(), ...markedPids()];
      expect(old).toHaveLength(2);
      await ip('netns', 'del', ns);
      const r = await run(['up']);
      expect(r.exitCode, r.all).toBe(0);
      for (const pid of old) expect(alive(pid), `old process ${pid}`).toBe(false);
      expect(markedPids()).toHaveLength(1);
      expect(old).not.toContain(markedPids()[0]);
    } finally {
      await downClean();
    }
    expect(markedPids()).toEqual([]);
  });

  it('down stops it', async () => {
    expect((await run(['up'])).exitCode).toBe(0);
    const old = startedPid();
    await ip('netns', 'del', ns);
    await downClean();
    expect(alive(old)).toBe(false);
    expect(markedPids()).toEqual([]);
  });
});

describe("a container's own process in a namespace of its own", () => {
  it("is the container's: up leaves it running, down stops it with the command", async () => {
    writeFileSync(file, yaml('unshare -n sleep 700 & exec sleep 600'));
    expect((await run(['up'])).exitCode).toBe(0);
    try {
      let nested: number | undefined;
      for (let i = 0; i < 40 && nested === undefined; i++) {
        nested = markedPids().find((p) => readFileSync(`/proc/${p}/cmdline`, 'latin1').split('\0').join(' ').trim() === 'sleep 700');
        if (nested === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      expect(nested).toBeDefined();
      const again = await run(['up']);
      expect(again.all).toContain('up to date');
      expect(alive(nested!)).toBe(true);
      await downClean();
      expect(alive(nested!)).toBe(false);
    } finally {
      await downClean();
    }
    expect(markedPids()).toEqual([]);
  });
});

describe('a symbolic link where netlab keeps its own file or folder', () => {
  /** A folder of the test's own, with one file in it, to plant links to. */
  const target = () => {
    const t = mkdtempSync(join(dir, 'target-'));
    writeFileSync(join(t, 'keep'), 'mine\n');
    return t;
  };
  const untouched = (t: string) => expect(readdirSync(t)).toEqual(['keep']);

  it('/etc/netns/<ns>: up refuses it (exit 2, named), down leaves it and what it points to', async () => {
    const t = target();
    mkdirSync('/etc/netns', { recursive: true });
    plant(etcNetnsDir(ns), t);
    const r = await run(['up']);
    expect(r.exitCode, r.all).toBe(2);
    expect(r.all).toContain(`${etcNetnsDir(ns)} (a symbolic link`);
    untouched(t);
    const d = await run(['down']);
    expect(d.exitCode, d.all).toBe(0);
    expect(existsSync(etcNetnsDir(ns))).toBe(true);
    untouched(t);
    await downClean();
  });

  it('/etc/netns/<ns> of a lab that is up: down names it and removes nothing behind it', async () => {
    expect((await run(['up'])).exitCode).toBe(0);
    const t = target();
    rmSync(etcNetnsDir(ns), { recursive: true });
    plant(etcNetnsDir(ns), t);
    const d = await run(['down']);
    expect(d.exitCode, d.all).toBe(0);
    expect(d.all).toContain(`left alone (not made by lab ${lab}): ${etcNetnsDir(ns)} (a symbolic link`);
    untouched(t);
    await downClean();
  });

  it('/run/netlab/<lab>: up refuses it, and writes nothing behind it', async () => {
    const t = target();
    mkdirSync(join(labDir(lab), '..'), { recursive: true });
    plant(labDir(lab), t);
    const r = await run(['up']);
    expect(r.exitCode, r.all).toBe(2);
    expect(r.all).toContain(labDir(lab));
    untouched(t);
    await downClean();
  });

  it('uts/<c>: up refuses it, and binds no namespace on what it points to', async () => {
    const t = target();
    mkdirSync(join(labDir(lab), 'uts'), { recursive: true });
    plant(utsPath(lab, 'c'), join(t, 'keep'));
    const r = await run(['up']);
    expect(r.exitCode, r.all).toBe(2);
    expect(r.all).toContain(`${utsPath(lab, 'c')} (a symbolic link`);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(t);
    untouched(t);
    await downClean();
  });

  it('a container log: up refuses it before the command is restarted, and appends nothing to what it points to', async () => {
    expect((await run(['up'])).exitCode).toBe(0);
    const t = target();
    const log = logPath(lab, 'c');
    unlinkSync(log);
    plant(log, join(t, 'keep'));
    writeFileSync(file, yaml('echo hello; exec sleep 600'));
    const r = await run(['up']);
    expect(r.exitCode, r.all).toBe(2);
    expect(r.all).toContain(`${log} (a symbolic link`);
    expect(readFileSync(join(t, 'keep'), 'utf8')).toBe('mine\n');
    await downClean();
  });

  it("an /etc file's temporary file: up refuses it, and writes nothing through it", async () => {
    expect((await run(['up'])).exitCode).toBe(0);
    const t = target();
    const hosts = join(etcNetnsDir(ns), 'hosts');
    writeFileSync(hosts, 'changed by hand\n'); // so that up rewrites it
    plant(`${hosts}.netlab-tmp`, join(t, 'keep'));
    const r = await run(['up']);
    expect(r.exitCode, r.all).toBe(2);
    expect(r.all).toContain(`${hosts}.netlab-tmp (a symbolic link`);
    expect(readFileSync(join(t, 'keep'), 'utf8')).toBe('mine\n');
    await downClean();
  });
});

const haveOvs = (await execa('ovs-vsctl', ['--version'], { reject: false })).exitCode === 0;

describe.skipIf(!haveOvs)('an Open vSwitch bridge with the lab name that the lab did not make', () => {
  it('up stops naming it, and does not take it over', async () => {
    const ovsLab = uniqueLab();
    const ovsFile = join(dir, 'ovs.yaml');
    writeFileSync(
      ovsFile,
      `name: ${ovsLab}
hosts:
  h1: { underlay: 10.241.30.11 }
  h2: { underlay: 10.241.30.12 }
networks:
  over: { subnet: 10.241.31.0/24, driver: ovs, vxlan: { vni: 241 } }
containers:
  a: { host: h1 }
  b: { host: h2 }
`,
    );
    const sim = (...args: string[]) => execa(process.execPath, [CLI, ...args, '-f', ovsFile], { reject: false, all: true, env: { NETLAB_LOG_LEVEL: 'warn' }, timeout: 60_000 });
    try {
      const up = await sim('up', '--simulate');
      expect(up.exitCode, up.all).toBe(0);
      // The bridge stays, but loses netlab's mark: someone else's bridge with the name the lab needs.
      const bridge = ovsName.bridge(ovsLab, 'over');
      const vsctl = (...args: string[]) => execa('ovs-vsctl', args, { reject: false, all: true, env: { OVS_RUNDIR: ovsRunDir(ovsLab, 'h1') } });
      expect((await vsctl('remove', 'bridge', bridge, 'external_ids', 'netlab-lab')).exitCode).toBe(0);
      const again = await sim('up', '--simulate');
      expect(again.exitCode, again.all).not.toBe(0);
      expect(again.all).toContain(`Open vSwitch bridge ${bridge} (no netlab mark)`);
      expect((await vsctl('br-exists', bridge)).exitCode).toBe(0);
    } finally {
      const down = await sim('down');
      expect(down.exitCode, down.all).toBe(0);
    }
    expect(netlabObjects().filter((o) => o.includes(ovsLab))).toEqual([]);
  }, 180_000);
});

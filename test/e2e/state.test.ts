/**
 * The state file and the lab's identity, through the CLI: a broken state is reported by the
 * commands that read it and rebuilt by `up`; a full or read-only disk is a clear error that
 * leaves nothing behind; a second file that names a running lab does not replace it; status
 * reports what up would do, or that it would refuse, in words.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, cli, sh, uniqueLab } from '../helpers/kernel.js';
import { stateFile } from '../../src/paths.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

const dir = tempDir('state');
const labs: string[] = [];
afterAll(async () => {
  for (const lab of labs) await cli(['down', '--lab', lab]);
  removeTempDir(dir);
});

/** A lab file in a folder of its own; `name` none: the lab is named by the folder. */
function labFile(folder: string, body: string): string {
  mkdirSync(join(dir, folder), { recursive: true });
  const file = join(dir, folder, 'netlab.yaml');
  writeFileSync(file, body);
  return file;
}

const pidOf = async (lab: string, c: string) => (JSON.parse((await cli(['ps', '--json', '--lab', lab])).stdout) as { name: string; pid?: number }[]).find((r) => r.name === c)?.pid;

describe('a broken state file', () => {
  const lab = uniqueLab();
  let file: string;
  beforeAll(async () => {
    labs.push(lab);
    file = labFile('broken', `name: ${lab}\ncontainers:\n  a: { command: [sleep, "1000"] }\n`);
    const r = await cli(['up', '-f', file]);
    if (r.exitCode !== 0) throw new Error(r.all);
  });

  const breakers: [string, (path: string) => void, RegExp][] = [
    ['the wrong shape', (p) => writeFileSync(p, '{"version": 1, "lab": "x", "resolved": 5}\n'), /it is not a netlab state: \w+/],
    ['not JSON', (p) => writeFileSync(p, '{"version": 1, "lab": '), /it is not JSON/],
    ['another version', (p) => writeFileSync(p, '{"version": 7}\n'), /another version of netlab \(state version 7/],
    [
      'a directory',
      (p) => {
        mkdirSync(p);
        writeFileSync(join(p, 'x'), 'x');
      },
      /it is a directory/,
    ],
  ];
  it.each(breakers)('%s: ps and status say what is wrong; up warns, rebuilds it from the kernel and keeps the lab running', async (_what, breakIt, why) => {
    const path = stateFile(lab);
    const pid = await pidOf(lab, 'a');
    expect(pid).toBeGreaterThan(0);
    rmSync(path, { recursive: true, force: true });
    breakIt(path);
    for (const cmd of [['ps'], ['status'], ['exec', 'a', '--', 'true']]) {
      const r = await cli([cmd[0]!, '--lab', lab, ...cmd.slice(1)]);
      expect(r.exitCode, r.all).toBe(1);
      expect(r.stderr).toContain(`the state of lab "${lab}" in ${path} is unusable`);
      expect(r.stderr).toMatch(why);
      expect(r.stderr).not.toMatch(/not up|a bug|\n\s+at /);
    }
    const up = await cli(['up', '-f', file]);
    expect(up.exitCode, up.all).toBe(0);
    expect(up.stderr).toContain(`the state file ${path} is unusable`);
    expect(up.stderr).toContain('treated as lost');
    expect(JSON.parse(readFileSync(path, 'utf8')).lab).toBe(lab);
    // The running command was found by its mark and kept.
    expect(await pidOf(lab, 'a')).toBe(pid);
    const again = await cli(['up', '-f', file]);
    expect(again.stdout).toContain('nothing to change');
    expect(again.stderr).not.toContain('unusable');
  });

  it('a state edited by hand that keeps its shape is used (checked, then written again)', async () => {
    const path = stateFile(lab);
    const text = readFileSync(path, 'utf8');
    writeFileSync(path, text.replace(/"check": "[0-9a-f]+",\n/, ''));
    expect((await cli(['ps', '--lab', lab])).exitCode).toBe(0);
    const up = await cli(['up', '-f', file]);
    expect(up.exitCode, up.all).toBe(0);
    expect(up.stderr).not.toContain('unusable');
    expect(readFileSync(path, 'utf8')).toMatch(/^\{\n {2}"check": "[0-9a-f]{64}",\n/);
  });
});

describe('a broken host record', () => {
  it('is treated as empty with a warning: up records the sysctls anew and down puts them back', async () => {
    const lab = uniqueLab();
    const ns = `test-host-${lab}`;
    await sh('ip', ['netns', 'add', ns]);
    await sh('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=0']);
    // The record of the namespace netlab runs in: a fresh one, so no other lab shares it.
    const { statSync } = await import('node:fs');
    const record = `/run/netlab/.host-${statSync(`/run/netns/${ns}`).ino}.json`;
    const file = labFile(`record-${lab}`, `name: ${lab}\ncontainers:\n  a: {}\n`);
    const inNs = (...args: string[]) => execa('nsenter', [`--net=/run/netns/${ns}`, process.execPath, CLI, ...args], { reject: false, all: true, env: { NETLAB_LOG_LEVEL: 'warn' } });
    try {
      writeFileSync(record, '{"version": 1}\n');
      const up = await inNs('up', '-f', file);
      expect(up.exitCode, up.all).toBe(0);
      expect(up.stderr).toContain(`${record} is not a netlab host record: treated as empty`);
      expect(JSON.parse(readFileSync(record, 'utf8')).sysctls).toEqual({ 'net.ipv4.ip_forward': '0' });
      const down = await inNs('down', '-f', file);
      expect(down.exitCode, down.all).toBe(0);
      expect((await execa('ip', ['netns', 'exec', ns, 'sysctl', '-n', 'net.ipv4.ip_forward'])).stdout).toBe('0');
      expect(existsSync(record)).toBe(false);
    } finally {
      await inNs('down', '--lab', lab);
      await sh('ip', ['netns', 'del', ns]);
      rmSync(record, { force: true });
    }
  });
});

describe('a disk that takes no state', () => {
  it.each([
    ['full (ENOSPC)', 'size=16k', 'no space left on the device'],
    ['read-only (EROFS)', 'ro,size=16k', 'the file system is read-only'],
  ])('%s: up says so, changes nothing and leaves no temporary file', async (_what, options, why) => {
    const lab = uniqueLab();
    const file = labFile(`disk-${lab}`, `name: ${lab}\ncontainers:\n  a: {}\n`);
    const folder = `/run/netlab/${lab}`;
    mkdirSync(folder, { recursive: true });
    try {
      // In a mount namespace of its own: the small file system goes with the shell.
      const script = [
        `mount -t tmpfs -o ${options} tmpfs ${folder}`,
        `dd if=/dev/zero of=${folder}/fill bs=4k count=100 2>/dev/null`,
        `${process.execPath} ${CLI} up -f ${file}; echo "exit $?"`,
        `ls -a ${folder}`,
      ].join('\n');
      const r = await execa('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { reject: false, all: true, env: { NETLAB_LOG_LEVEL: 'warn' } });
      expect(r.stdout, r.all).toContain('exit 1');
      expect(r.stderr).toContain(`netlab: cannot write the state of lab ${lab} to ${folder}/state.json: ${why}; nothing was changed`);
      expect(r.stderr).not.toMatch(/a bug|\n\s+at /);
      expect(r.stdout).not.toContain('netlab-tmp');
      expect((await sh('ip', ['netns', 'list'])).stdout).not.toContain(`netlab-${lab}-`);
      expect((await sh('ip', ['-o', 'link', 'show'])).stdout).not.toContain(`netlab:${lab}:`);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('two files that name one lab', () => {
  it('the second does not replace the running lab unless forced; up, down and status name both files', async () => {
    const lab = uniqueLab();
    labs.push(lab);
    // Two folders with the lab's name: the lab is named by its folder in both.
    const first = labFile(`one/${lab}`, 'containers:\n  a: { command: [sleep, "1000"] }\n');
    const second = labFile(`two/${lab}`, 'containers:\n  b: {}\n');
    const run = (file: string, ...args: string[]) => cli(args, { cwd: join(file, '..') });
    const made = await run(first, 'up');
    expect(made.exitCode, made.all).toBe(0);
    // What must not change: the containers, their addresses, ports and pids (not the "Up N seconds" text).
    const psNow = async () => (JSON.parse((await run(first, 'ps', '--json')).stdout) as Record<string, unknown>[]).map(({ name, ip, ports, links, pid }) => ({ name, ip, ports, links, pid }));
    const before = await psNow();
    expect(before.map((c) => c.name)).toEqual(['a']);

    for (const args of [['up'], ['down'], ['up', '--dry-run']]) {
      const r = await run(second, ...args);
      expect(r.exitCode, r.all).toBe(2);
      expect(r.stderr).toContain(`lab "${lab}" is up from ${first}, not from ${second}`);
      expect(r.stderr).toMatch(args[0] === 'up' ? /-l\/--lab NAME.*--force/ : /netlab down -l .*--force/);
    }
    expect(await psNow()).toEqual(before);

    const st = await run(second, 'status');
    expect(st.exitCode, st.all).toBe(2);
    expect(st.stdout).toContain(`"netlab up" would refuse: lab "${lab}" is up from ${first}, not from ${second}`);
    // By its own file, or by name, it is in sync.
    expect((await run(first, 'status')).exitCode).toBe(0);
    expect((await run(second, 'status', '--lab', lab)).exitCode).toBe(0);
    // The same file through a symbolic link (in a folder of the lab's name) is the same file.
    mkdirSync(join(dir, 'three', lab), { recursive: true });
    symlinkSync(first, join(dir, 'three', lab, 'netlab.yaml'));
    const viaLink = await cli(['up', '-f', join(dir, 'three', lab, 'netlab.yaml')]);
    expect(viaLink.exitCode, viaLink.all).toBe(0);
    expect(viaLink.stdout).toContain('nothing to change');

    const forced = await run(second, 'up', '--force');
    expect(forced.exitCode, forced.all).toBe(0);
    expect((await run(second, 'ps')).stdout).toMatch(/^b\s/m);
    expect((await run(first, 'down')).exitCode).toBe(2);
    expect((await run(second, 'down')).exitCode).toBe(0);
    expect(existsSync(`/run/netlab/${lab}`)).toBe(false);
  });
});

describe('status', () => {
  it('says in words what up would change, and that up would refuse where it would', async () => {
    const lab = uniqueLab();
    labs.push(lab);
    const file = labFile(`status-${lab}`, `name: ${lab}\ncontainers:\n  a: { command: [sleep, "1000"] }\n  b: {}\n`);
    expect((await cli(['up', '-f', file])).exitCode).toBe(0);
    process.kill((await pidOf(lab, 'a'))!, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    const drift = await cli(['status', '-f', file]);
    expect(drift.exitCode, drift.all).toBe(3);
    expect(drift.stdout).toContain('drifted: "netlab up" would make 1 change (1 container command to start)');
    const fixed = await cli(['up', '-f', file]);
    expect(fixed.stdout).toMatch(new RegExp(`lab ${lab} is up: 2 containers on \\S+ [\\d./]+; 1 change in \\d+ ms`));

    // Container a's namespace marked as b's: up refuses it, and status says so.
    const ns = `netlab-${lab}-a`;
    await sh('ip', ['-n', ns, 'link', 'set', 'dev', 'lo', 'alias', `netlab:${lab}:ctr:b`]);
    try {
      const up = await cli(['up', '-f', file]);
      expect(up.exitCode, up.all).toBe(2);
      const st = await cli(['status', '-f', file]);
      expect(st.exitCode, st.all).toBe(2);
      expect(st.stdout).toContain(`"netlab up" would refuse: these objects carry names lab "${lab}" needs but were not made by it`);
      expect(st.stdout).toContain(`network namespace ${ns}`);
    } finally {
      await sh('ip', ['-n', ns, 'link', 'set', 'dev', 'lo', 'alias', `netlab:${lab}:ctr:a`]);
    }
  });
});

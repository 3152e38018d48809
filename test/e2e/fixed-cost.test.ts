/**
 * What a CLI run costs before it knows it must do anything (issue 21): a `down` of a lab that is
 * not up and a converged `up` start no program but the two firewall reads, and the sweep for a
 * killed trace's leftovers (every up and down runs it) still finds and removes them by their marks.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, cli, uniqueLab } from '../helpers/kernel.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

const dir = tempDir('fixed');
const labs: string[] = [];
afterAll(async () => {
  for (const lab of labs) await cli(['down', '--lab', lab]);
  removeTempDir(dir);
});

/** Every program netlab may start, each behind a script that notes its name and runs the real one. */
const PROGRAMS = ['nft', 'iptables', 'iptables-save', 'iptables-restore', 'ip6tables', 'ip6tables-save', 'ip6tables-restore', 'ip', 'bridge', 'tc', 'sysctl', 'conntrack'];
const PROGRAMS_MORE = ['ovs-vsctl', 'ovs-ofctl', 'nsenter', 'unshare', 'mount', 'umount', 'ss', 'modprobe', 'bash', 'sh', 'perl', 'env'];

function shimmedPath(log: string): string {
  const shims = join(dir, 'shims');
  mkdirSync(shims, { recursive: true });
  const real = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin';
  for (const p of [...PROGRAMS, ...PROGRAMS_MORE]) {
    // The real program, found without the shims, runs with them: the programs it starts (a shell's) are noted too.
    writeFileSync(join(shims, p), `#!/bin/sh\necho "${p} $*" >> '${log}'\nexec "$(PATH='${real}' command -v ${p})" "$@"\n`);
    chmodSync(join(shims, p), 0o755);
  }
  return `${shims}:${real}`;
}

/** The programs one CLI run started, each with its arguments, in order. */
async function programsOf(args: string[]): Promise<string[]> {
  const log = join(dir, `${uniqueLab()}.log`);
  writeFileSync(log, '');
  const r = await execa(process.execPath, [CLI, ...args], { reject: false, all: true, env: { NETLAB_LOG_LEVEL: 'warn', PATH: shimmedPath(log) } });
  if (r.exitCode !== 0) throw new Error(r.all);
  return readFileSync(log, 'utf8').split('\n').filter(Boolean);
}

/** The one nft a run may start: the firewall's read of the shared table, there only while a lab of another test file uses nftables. */
const NFT_FIREWALL_READ = 'nft -a list table inet netlab';

/**
 * The programs a run that changes nothing may start: the firewall reads (one shell running both,
 * iptables.ts); with the iproute2 backend also the programs it reads links and namespaces with
 * (the netlink backend does that in-process).
 */
function expectOnlyReads(lines: string[]): void {
  const started = lines.filter((l) => l !== NFT_FIREWALL_READ).map((l) => l.split(' ')[0]);
  expect(started).not.toContain('nft');
  if (process.env.NETLAB_BACKEND === 'iproute2') expect(started).toEqual(expect.arrayContaining(['iptables-save', 'ip6tables-save']));
  else expect([...started].sort()).toEqual(['ip6tables-save', 'iptables-save', 'sh']);
}

describe("a run's fixed cost", () => {
  it('a down of a lab that is not up starts nothing but the reads (no nft: the trace sweep asks nftables in-process)', async () => {
    expectOnlyReads(await programsOf(['down', '--lab', uniqueLab()]));
  });

  it('a second up of an unchanged lab starts nothing but the reads', async () => {
    const lab = uniqueLab();
    labs.push(lab);
    const file = join(dir, `${lab}.yaml`);
    writeFileSync(file, `name: ${lab}\nnetworks:\n  n: { subnet: 10.121.8.0/24 }\ncontainers:\n  a: { publish: ["41021:80"] }\n  b: {}\n`);
    const first = await cli(['up', '-f', file]);
    expect(first.exitCode, first.all).toBe(0);
    expectOnlyReads(await programsOf(['up', '-f', file]));
  });

  it("removes a killed trace's table by its marks on the next down, and leaves an unmarked one of that name alone", async () => {
    const lab = uniqueLab();
    // A pid no process has any more: the trace's netlab is gone.
    const gone = spawnSync('true').pid;
    const marked = `nltrace-${lab}-${gone}`;
    const unmarked = `nltrace-${lab}-${gone + 1}`;
    const alive = async () => (await execa('nft', ['list', 'tables'])).stdout;
    try {
      await execa('nft', ['-f', '-'], { input: `table ip ${marked} {\n  comment "netlab:${lab}:trace"\n}\ntable ip ${unmarked} {\n}\n` });
      expect(await alive()).toContain(`table ip ${marked}`);
      const r = await cli(['down', '--lab', lab]);
      expect(r.exitCode, r.all).toBe(0);
      const left = await alive();
      expect(left).not.toContain(`table ip ${marked}`);
      expect(left).toContain(`table ip ${unmarked}`);
    } finally {
      await execa('nft', ['delete', 'table', 'ip', marked], { reject: false });
      await execa('nft', ['delete', 'table', 'ip', unmarked], { reject: false });
    }
  });

  it('loads no scanner of CommonJS exports (commander is required as the CommonJS package it is): 15 ms of every run', async () => {
    const probe = join(dir, 'lexer.mjs');
    writeFileSync(probe, "process.on('exit', () => process.stderr.write(`lexer ${process.moduleLoadList.some((m) => m.includes('cjs-module-lexer'))}\\n`));\n");
    for (const args of [['--version'], ['down', '--lab', uniqueLab()]]) {
      const r = await execa(process.execPath, ['--import', probe, CLI, ...args], { reject: false, all: true, env: { NETLAB_LOG_LEVEL: 'warn' } });
      expect(r.exitCode, r.all).toBe(0);
      expect(r.stderr).toContain('lexer false');
    }
  });
});

/**
 * trace, capture and stats as a hostile user meets them: interrupted and killed captures, a filter
 * that matches nothing, bad arguments (exit 2, naming the argument, nothing started), the stats
 * document's shape.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { up, down, parseTopology } from '../../src/index.js';
import { CLI, cli, uniqueLab } from '../helpers/kernel.js';
import { labStatsSchema } from '../../src/trace/schema.js';
import { traceLeftovers } from '../helpers/trace-leftovers.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

const topology = (lab: string) =>
  parseTopology(
    `networks:
  a: { subnet: 10.235.70.0/24, dns: false }
containers:
  web: { networks: [a], expose: [80], publish: ["21470:80"], command: [netlab, serve, --port, "80"] }
  client: { networks: [a], links: ["web:www"] }
`,
    { source: 'hostile.yaml', defaultName: lab },
  );

/** The tcpdump processes running in a named network namespace (a capture's, or the filter check's `tcpdump -d`). */
function tcpdumpsIn(ns: string, capturing = false): number[] {
  const inode = statSync(`/run/netns/${ns}`).ino;
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return cmd.startsWith('tcpdump\0') && !(capturing && cmd.includes('\0-d\0')) && statSync(`/proc/${pid}/ns/net`).ino === inode;
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function waitFor(check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Matches nothing the lab sends. */
const NOTHING = ['udp port 9'];

describe('trace, capture, stats against hostile use', () => {
  const lab = uniqueLab();
  const web = `netlab-${lab}-web`;
  const dir = tempDir('hostile');
  beforeAll(async () => {
    await up({ topology: topology(lab) });
  });
  afterAll(async () => {
    await down({ lab });
    removeTempDir(dir);
  });

  it('a capture whose filter matches nothing stops cleanly on Ctrl-C: exit 0, an empty pcap tcpdump reads, no tcpdump left', async () => {
    const file = join(dir, 'nothing.pcap');
    const run = execa(process.execPath, [CLI, 'capture', '-l', lab, 'web', '-w', file, ...NOTHING], { reject: false });
    await waitFor(() => tcpdumpsIn(web, true).length > 0);
    run.kill('SIGINT');
    expect((await run).exitCode).toBe(0);
    expect(tcpdumpsIn(web)).toEqual([]);
    const read = await execa('tcpdump', ['-n', '-r', file], { reject: false });
    expect(read.exitCode).toBe(0);
    expect(read.stdout.trim()).toBe('');
  });

  it('a killed capture (SIGKILL) leaves no tcpdump in the container, in text mode and with -w', async () => {
    for (const args of [[], ['-w', join(dir, 'killed.pcap')]]) {
      const run = execa(process.execPath, [CLI, 'capture', '-l', lab, 'web', ...args, ...NOTHING], { reject: false });
      await waitFor(() => tcpdumpsIn(web, true).length > 0);
      run.kill('SIGKILL');
      await run;
      await waitFor(() => tcpdumpsIn(web).length === 0, 5000);
    }
  });

  it('bad capture arguments exit 2 naming the argument, and start no tcpdump', async () => {
    const bad = async (...args: string[]) => {
      const r = await cli(['capture', '-l', lab, ...args]);
      expect(r.exitCode, r.all).toBe(2);
      expect(tcpdumpsIn(web)).toEqual([]);
      return r.all;
    };
    expect(await bad('web', '-w', '/nonexistent-netlab/x.pcap', '-c', '1')).toContain('-w/--write: /nonexistent-netlab/x.pcap: the folder /nonexistent-netlab does not exist');
    expect(await bad('web', '-w', dir, '-c', '1')).toContain(`-w/--write: ${dir} is a folder`);
    expect(await bad('web', '-c', '1', 'tcp', 'port')).toMatch(/FILTER: tcpdump refuses "tcp port": .*syntax error/);
  });

  it('trace from outside to outside is refused, naming DST', async () => {
    const r = await cli(['trace', '-l', lab, 'outside', 'outside:80']);
    expect(r.exitCode).toBe(2);
    expect(r.all).toContain('DST: outside to outside');
    expect(readdirSync('/run/netns').filter((n) => n.startsWith(`nltrace-${lab}-`))).toEqual([]);
  });

  it('a killed trace whose record is lost too is cleared by its kernel marks on the next trace', async () => {
    const nss = ['web', 'client'].map((c) => `netlab-${lab}-${c}`);
    const killed = execa(process.execPath, [CLI, 'trace', '-l', lab, 'outside', 'web:80'], { reject: false });
    await waitFor(async () => (await traceLeftovers(lab, nss)).some((l) => l.startsWith('monitor process')));
    killed.kill('SIGKILL');
    await killed;
    rmSync(`/run/netlab/.traces/${killed.pid}.json`);
    const left = await traceLeftovers(lab, nss);
    expect(left).toEqual(expect.arrayContaining([`netns nltrace-${lab}-${killed.pid}`, `host: table ip nltrace-${lab}-${killed.pid}`]));
    expect((await cli(['trace', '-l', lab, 'host', 'web:80'])).exitCode).toBe(0);
    expect(await traceLeftovers(lab, nss)).toEqual([]);
  });

  it('stats --json: the documented shape, strictly; for one container, only what is its own', async () => {
    const all = labStatsSchema.parse(JSON.parse((await cli(['stats', '-l', lab, '--json'])).stdout));
    expect(all.interfaces.map((i) => `${i.container} ${i.ifname}`)).toEqual(['web eth0', 'client eth0']);
    expect(all.ports).toEqual([expect.objectContaining({ container: 'web', port: '0.0.0.0:21470->80/tcp' })]);
    expect(all.links).toEqual([expect.objectContaining({ from: 'client', to: 'web', port: '80/tcp' })]);
    const one = labStatsSchema.parse(JSON.parse((await cli(['stats', '-l', lab, '--json', 'client'])).stdout));
    expect(one.interfaces.map((i) => i.container)).toEqual(['client']);
    expect(one.ports).toEqual([]);
    expect(one.links.map((l) => l.from)).toEqual(['client']);
    const none = await cli(['stats', '-l', lab, '--json', 'nobody']);
    expect(none.exitCode).toBe(2);
    expect(none.all).toContain('NAME: lab');
  });
});

it('trace, capture and stats of a lab that is not up say so (exit 1) and start nothing', async () => {
  const lab = uniqueLab();
  for (const args of [
    ['trace', 'host', 'web:80'],
    ['capture', 'web', '-c', '1'],
    ['stats', '--json'],
  ]) {
    const r = await cli([args[0]!, '-l', lab, ...args.slice(1)]);
    expect(r.exitCode, args.join(' ')).toBe(1);
    expect(r.all).toContain(`lab "${lab}" is not up`);
    expect(r.stdout).toBe('');
  }
  expect(readdirSync('/run/netns').filter((n) => n.includes(lab))).toEqual([]);
});

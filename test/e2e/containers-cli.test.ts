/**
 * Containers through the CLI as a user runs them: `up` waits for the commands it starts to
 * listen (the README's `netlab up && curl` in a script), reports a command that exits, `up
 * --wait` and its timeout, stop/start/restart and Docker's status words in ps and status.
 * Host ports 46030-46039, subnets 10.246.30-39.0/24.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, uniqueLab } from '../helpers/kernel.js';
import { logPath, timesPath } from '../../src/paths.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

const dirs: { dir: string; lab: string }[] = [];
afterEach(async () => {
  for (const { dir, lab } of dirs.splice(0)) {
    await netlab(dir, ['down', '--lab', lab]);
    removeTempDir(dir);
  }
});

function labFile(body: string): { dir: string; lab: string } {
  const dir = tempDir('cli');
  const lab = uniqueLab();
  writeFileSync(join(dir, 'netlab.yaml'), `name: ${lab}\n${body}`);
  dirs.push({ dir, lab });
  return { dir, lab };
}

const netlab = (cwd: string, args: string[]) => execa(process.execPath, [CLI, ...args], { cwd, reject: false, all: true, env: { NETLAB_LOG_LEVEL: 'warn' } });

describe('containers through the CLI', () => {
  it('"netlab up && curl" works in a script 20 times out of 20', async () => {
    const { dir } = labFile(`networks:\n  n: { subnet: 10.246.30.0/24 }\ncontainers:\n  web:\n    publish: ["46030:80"]\n    command: [netlab, serve, --port, "80"]\n`);
    const script = `ok=0; for i in $(seq 1 20); do if node ${CLI} up -q >/dev/null && curl -s -m 2 localhost:46030 | grep -q .; then ok=$((ok+1)); fi; node ${CLI} down -q >/dev/null; done; echo "$ok/20"`;
    const r = await execa('bash', ['-c', script], { cwd: dir, reject: false, all: true, env: { NETLAB_LOG_LEVEL: 'warn' } });
    expect(r.stdout.trim().split('\n').at(-1)).toBe('20/20');
  }, 240_000);

  it('up reports a command that exits right after start: its name, exit code and last log lines, exit 1', async () => {
    const { dir } = labFile(`networks:\n  n: { subnet: 10.246.31.0/24 }\ncontainers:\n  bad: { command: "echo starting; echo no config file >&2; exit 3" }\n  fine: { command: "exec sleep 1000" }\n`);
    const r = await netlab(dir, ['up']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('container bad: its command exited with code 3\n  | starting\n  | no config file');
    expect(r.stdout).toMatch(/bad\s+Exited \(3\) /);
    expect(r.stdout).toMatch(/fine\s+Up /);
  });

  it('up --wait returns once the published port listens; on timeout it exits 1 naming the container and its log', async () => {
    const { dir } = labFile(
      `networks:\n  n: { subnet: 10.246.32.0/24 }\ncontainers:\n  slow:\n    publish: ["46032:80"]\n    command: "echo warming up; sleep 1.5; exec python3 -m http.server 80"\n  deaf:\n    publish: ["46033:80"]\n    command: "echo never listens; exec sleep 1000"\n`,
    );
    const started = Date.now();
    const r = await netlab(dir, ['up', '--wait', '--wait-timeout', '4']);
    expect(r.exitCode).toBe(1);
    expect(Date.now() - started).toBeGreaterThan(3500);
    expect(r.stderr).toContain('container deaf: port 80/tcp not listening yet after 4 s\n  | never listens');
    expect(r.stderr).not.toContain('container slow');
    const curl = await execa('curl', ['-s', '-m', '2', '-o', '/dev/null', '-w', '%{http_code}', 'localhost:46032'], { reject: false });
    expect(curl.stdout).toBe('200');
  });

  it('stop, start and restart a container; ps and status say it as Docker does', async () => {
    const { dir } = labFile(`networks:\n  n: { subnet: 10.246.34.0/24 }\ncontainers:\n  web:\n    publish: ["46034:80"]\n    command: [netlab, serve, --port, "80"]\n  client: {}\n`);
    expect((await netlab(dir, ['up', '--wait'])).exitCode).toBe(0);
    const stop = await netlab(dir, ['stop', '--time', '2', 'web']);
    expect(stop.exitCode).toBe(0);
    expect(stop.stdout.trim()).toBe('web');
    expect((await netlab(dir, ['ps', '-a'])).stdout).toMatch(/web\s+Exited \(\d+\) (Less than a second|\d+ seconds?) ago/);
    expect((await execa('curl', ['-s', '-m', '1', 'localhost:46034'], { reject: false })).exitCode).not.toBe(0);
    expect((await netlab(dir, ['start', 'web'])).exitCode).toBe(0);
    expect((await netlab(dir, ['status'])).stdout).toMatch(/web\s+Up (Less than a second|\d+ seconds?)\s+\d+\s+0/);
    expect((await netlab(dir, ['restart', '-t', '1', 'web'])).exitCode).toBe(0);
    const bad = await netlab(dir, ['stop', 'client']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('container "client" has no command to stop');
  });

  it('logs --tail and --follow, logs of a container without a command, port, ls, ps --json ports as objects, exec with a LANG', async () => {
    const { dir, lab } = labFile(
      `networks:\n  n: { subnet: 10.246.35.0/24 }\ncontainers:\n  web:\n    publish: ["46035:80"]\n    command: "for i in 1 2 3 4 5; do echo line $i; done; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo later; exec sleep 1000"\n  client: { expose: ["81/udp"] }\n`,
    );
    expect((await netlab(dir, ['up'])).exitCode).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect((await netlab(dir, ['logs', '--tail', '2', 'web'])).stdout).toBe('line 4\nline 5');
    const following = execa(process.execPath, [CLI, 'logs', '--follow', '-n', '1', 'web'], { cwd: dir, reject: false });
    await new Promise((r) => setTimeout(r, 1000));
    await netlab(dir, ['exec', 'web', '--', 'touch', '/tmp/go']);
    await new Promise((r) => setTimeout(r, 1000));
    following.kill('SIGINT');
    expect((await following).stdout).toBe('line 5\nlater');
    const none = await netlab(dir, ['logs', 'client']);
    expect(none.exitCode).toBe(1);
    expect(none.stderr).toContain('container "client" has no command');
    expect((await netlab(dir, ['port', 'web'])).stdout).toBe('80/tcp -> 0.0.0.0:46035');
    const listed = (JSON.parse((await netlab(dir, ['ls', '--json'])).stdout) as { name: string; running: number; total: number; ports: string[]; file: string }[]).find((l) => l.name === lab);
    expect(listed).toMatchObject({ running: 2, total: 2, ports: ['0.0.0.0:46035->80/tcp (web)'], file: join(dir, 'netlab.yaml') });
    expect((await netlab(dir, ['port', 'web', '80'])).stdout).toBe('0.0.0.0:46035');
    expect((await netlab(dir, ['port', 'web', '81'])).stderr).toContain("no public port '81/tcp' published for web");
    // Docker's API lists a container's Ports as objects, one a port; the table's strings stay in ps.
    const rows = JSON.parse((await netlab(dir, ['ps', '--json'])).stdout) as { name: string; ports: unknown[] }[];
    expect(rows.map((r) => [r.name, r.ports])).toEqual([
      ['web', [{ IP: '0.0.0.0', PrivatePort: 80, PublicPort: 46035, Type: 'tcp' }]],
      ['client', [{ PrivatePort: 81, Type: 'udp' }]],
    ]);
    const lang = (env: Record<string, string>) => execa(process.execPath, [CLI, 'exec', 'client', '--', 'sh', '-c', 'echo "$LANG"'], { cwd: dir, env });
    expect((await lang({ LANG: '' })).stdout).toBe('C.UTF-8');
    expect((await lang({ LANG: 'en_US.UTF-8' })).stdout).toBe('en_US.UTF-8');
  });

  it('logs -t, --since and --until: each line with the time it came, stdout and stderr in order, a partial line and binary bytes kept; a log from before the times file still reads', async () => {
    const { dir, lab } = labFile(
      `networks:\n  n: { subnet: 10.234.37.0/24 }\ncontainers:\n  w:\n    command: 'echo one; echo err >&2; printf part; sleep 1; printf "ial\\\\n"; printf "b\\\\000\\\\001\\\\n"; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo later; exec sleep 1000'\n`,
    );
    expect((await netlab(dir, ['up'])).exitCode).toBe(0);
    await new Promise((r) => setTimeout(r, 1600));
    const bytes = async (args: string[]) =>
      Buffer.from((await execa(process.execPath, [CLI, 'logs', ...args, 'w'], { cwd: dir, encoding: 'buffer', stripFinalNewline: false })).stdout).toString('latin1');
    expect(await bytes([])).toBe('one\nerr\npartial\nb\0\x01\n');
    const stamped = (await bytes(['-t'])).split('\n').slice(0, -1);
    const at = stamped.map((l) => /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) /.exec(l)![1]!);
    expect(stamped.map((l, i) => l.slice(at[i]!.length + 1))).toEqual(['one', 'err', 'partial', 'b\0\x01']);
    expect(Math.abs(Date.parse(at[0]!) - Date.now())).toBeLessThan(10_000);
    expect(Date.parse(at[3]!) - Date.parse(at[0]!)).toBeGreaterThanOrEqual(900);
    expect(await bytes(['--since', at[3]!])).toBe('b\0\x01\n');
    expect(await bytes(['--since', String(Date.parse(at[3]!) / 1000 - 0.001)])).toBe('b\0\x01\n');
    expect(await bytes(['--until', at[2]!])).toBe('one\nerr\npartial\n');
    expect(await bytes(['--since', '1h', '--tail', '1'])).toBe('b\0\x01\n');
    const bad = await netlab(dir, ['logs', '--since', 'yesterday', 'w']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('--since: "yesterday" is not a time or a duration');
    // From now (a Unix time, as Docker takes it): a relative --since would let in the last line when the calls above are quick.
    const following = execa(process.execPath, [CLI, 'logs', '--follow', '-t', '--since', String(Date.now() / 1000), 'w'], { cwd: dir, reject: false });
    await new Promise((r) => setTimeout(r, 800));
    await netlab(dir, ['exec', 'w', '--', 'touch', '/tmp/go']);
    await new Promise((r) => setTimeout(r, 1000));
    following.kill('SIGINT');
    expect((await following).stdout).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]{18}Z later$/);
    // A running lab's log from before netlab stamped logs: no times file beside it.
    const log = logPath(lab, 'w');
    renameSync(timesPath(log), `${log}.old`);
    expect(await bytes([])).toBe('one\nerr\npartial\nb\0\x01\nlater\n');
    expect((await bytes(['-t', '--tail', '2'])).split('\n')).toEqual(['0001-01-01T00:00:00.000000000Z b\0\x01', '0001-01-01T00:00:00.000000000Z later', '']);
    expect(await bytes(['--since', '1h'])).toBe('');
  });

  it('a healthcheck turns healthy and up --wait returns only then; an unhealthy one fails the wait', async () => {
    const { dir, lab } = labFile(
      `networks:\n  n: { subnet: 10.246.36.0/24 }\ncontainers:\n  h:\n    command: "sleep 1.5; touch /tmp/ready; exec sleep 1000"\n    healthcheck: { test: ["CMD-SHELL", "test -e /tmp/ready"], interval: 200ms, retries: 2 }\n`,
    );
    const r = await netlab(dir, ['up', '--wait']);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toMatch(/h\s+Up .*\(healthy\)/);
    const doc = JSON.parse((await netlab(dir, ['inspect', 'h', '--json'])).stdout)[0];
    expect(doc.State.Health).toEqual({ Status: 'healthy', FailingStreak: 0 });
    writeFileSync(
      join(dir, 'netlab.yaml'),
      `name: ${lab}\nnetworks:\n  n: { subnet: 10.246.36.0/24 }\ncontainers:\n  h:\n    command: "exec sleep 1000"\n    healthcheck: { test: ["CMD", "false"], interval: 200ms, retries: 2 }\n`,
    );
    const bad = await netlab(dir, ['up', '--wait', '--wait-timeout', '3']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/container h: its healthcheck is unhealthy \(\d+ failures in a row\) after 3 s/);
  });
});

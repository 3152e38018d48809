/**
 * Real servers in containers, the seed lessons' Apache and nginx: two of each in one lab, each
 * with its own docroot volume, pid file (in its private /run) and logs (a tmpfs), and the
 * lifecycle around them: stop, start, restart policies, the monitor and its repair.
 * Run under both link backends (NETLAB_BACKEND=iproute2).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { up, down, execIn, ps, inspect, parseTopology, stopContainers, startContainers } from '../../src/index.js';
import { ctrDir } from '../../src/paths.js';
import { monitorPid } from '../../src/kernel/monitor.js';
import { isAlive } from '../../src/kernel/processes.js';
import { httpGet, uniqueLab } from '../helpers/kernel.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

const labs: string[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const lab of labs.splice(0)) await down({ lab }).catch(() => undefined);
  for (const d of dirs.splice(0)) removeTempDir(d);
});

function topology(lab: string, body: string, sites: string[] = []) {
  const dir = tempDir('srv');
  dirs.push(dir);
  for (const s of sites) {
    mkdirSync(join(dir, s));
    writeFileSync(join(dir, s, 'index.html'), `page of ${s}\n`);
  }
  labs.push(lab);
  return parseTopology(body, { source: join(dir, 'netlab.yaml'), defaultName: lab, dir });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: () => Promise<T>, ok: (v: T) => boolean, ms = 8000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await what();
    if (ok(v) || Date.now() > deadline) return v;
    await sleep(100);
  }
}
const statusOf = async (lab: string, name: string) => (await ps(lab)).find((r) => r.name === name)!;
const get = (port: number) => httpGet(`http://127.0.0.1:${port}/`, 10000);

const apache = (site: string, port: number) => `    command: [apache2ctl, -D, FOREGROUND]
    volumes: ["./${site}:/var/www/html:ro"]
    tmpfs: [/var/log/apache2]
    publish: ["127.0.0.1:${port}:80"]
`;
const nginx = (site: string, port: number) => `    command: [nginx, -g, "daemon off;"]
    volumes: ["./${site}:/var/www/html:ro"]
    tmpfs: [/var/log/nginx, /var/lib/nginx]
    publish: ["127.0.0.1:${port}:80"]
`;

describe('real servers in containers', () => {
  it('two Apaches and two nginx in one lab each serve their own page; stopping one Apache stops it only; start brings it back', async () => {
    const lab = uniqueLab();
    const topo = topology(
      lab,
      `networks:\n  n: { subnet: 10.246.20.0/24 }\ncontainers:\n  web1:\n${apache('s1', 46101)}  web2:\n${apache('s2', 46102)}  ng1:\n${nginx('s3', 46103)}  ng2:\n${nginx('s4', 46104)}`,
      ['s1', 's2', 's3', 's4'],
    );
    await up({ topology: topo });
    expect([await get(46101), await get(46102), await get(46103), await get(46104)]).toEqual(['page of s1\n', 'page of s2\n', 'page of s3\n', 'page of s4\n']);
    // Their own pid files and logs.
    const pidOf = async (c: string, file: string) => (await execIn(lab, c, ['cat', file], { stdio: 'pipe' })).stdout.trim();
    expect(await pidOf('web1', '/run/apache2/apache2.pid')).not.toBe(await pidOf('web2', '/run/apache2/apache2.pid'));
    expect(await pidOf('ng1', '/run/nginx.pid')).not.toBe(await pidOf('ng2', '/run/nginx.pid'));
    expect((await execIn(lab, 'web1', ['grep', '-c', 'GET', '/var/log/apache2/access.log'], { stdio: 'pipe' })).stdout.trim()).toBe('1');

    const stopped = await execIn(lab, 'web2', ['apache2ctl', 'stop'], { stdio: 'pipe' });
    expect(stopped.exitCode).toBe(0);
    const web2 = await until(
      () => statusOf(lab, 'web2'),
      (r) => r.status === 'exited',
    );
    expect(web2.statusText).toMatch(/^Exited \(0\) /);
    expect(await get(46101)).toBe('page of s1\n');
    expect((await statusOf(lab, 'web1')).statusText).toMatch(/^Up /);

    await startContainers(lab, ['web2']);
    expect(await get(46102)).toBe('page of s2\n');
    expect((await statusOf(lab, 'web2')).statusText).toMatch(/^Up /);

    // docker stop: the network stays, the command goes, and nothing restarts it.
    await stopContainers(lab, ['ng1'], 5);
    const ng1 = await inspect(lab, 'ng1');
    expect(ng1.State).toMatchObject({ Status: 'exited', Running: false, ExitCode: 0 });
    await sleep(500);
    expect((await statusOf(lab, 'ng1')).status).toBe('exited');
  });

  it('restart: on-failure:2 restarts a failing command twice, then shows Exited (3) and RestartCount 2', async () => {
    const lab = uniqueLab();
    await up({ topology: topology(lab, `networks:\n  n: { subnet: 10.246.21.0/24 }\ncontainers:\n  a: { command: "echo run; exit 3", restart: "on-failure:2" }\n`) });
    const row = await until(
      () => statusOf(lab, 'a'),
      (r) => r.status === 'exited' && r.state?.RestartCount === 2 && monitorPid(ctrDir(lab, 'a')) === undefined,
      10000,
    );
    expect(row.statusText).toMatch(/^Exited \(3\) /);
    const doc = await inspect(lab, 'a');
    expect(doc).toMatchObject({ RestartCount: 2, State: { ExitCode: 3, Running: false } });
    expect((doc.State as { FinishedAt: string }).FinishedAt).not.toMatch(/^0001/);
  });

  it('a killed monitor is repaired by the next up; down leaves no monitor and no process', async () => {
    const lab = uniqueLab();
    const body = `networks:\n  n: { subnet: 10.246.22.0/24 }\ncontainers:\n  a: { command: "exec sleep 1000", restart: always }\n`;
    const topo = topology(lab, body);
    await up({ topology: topo });
    const dir = ctrDir(lab, 'a');
    const first = await until(
      async () => monitorPid(dir),
      (p) => p !== undefined,
    );
    const cmd = (
      await until(
        () => statusOf(lab, 'a'),
        (r) => !!r.pid,
      )
    ).pid!;
    process.kill(first!, 'SIGKILL');
    await until(
      async () => isAlive(first!),
      (alive) => !alive,
    );
    expect((await statusOf(lab, 'a')).status).toBe('exited');
    const repaired = await up({ topology: topo });
    expect(repaired.ops.map((o) => o.kind)).toEqual(['process.stop', 'process.start']);
    const second = await until(
      async () => monitorPid(dir),
      (p) => p !== undefined,
    );
    expect(second).not.toBe(first);
    expect(isAlive(cmd)).toBe(false);
    const now = (
      await until(
        () => statusOf(lab, 'a'),
        (r) => !!r.pid,
      )
    ).pid!;
    await down({ lab });
    expect(isAlive(second!)).toBe(false);
    expect(isAlive(now)).toBe(false);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(`/run/netlab/${lab}/`);
  });
});

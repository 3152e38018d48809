/**
 * The README's user story, line by line, through the built CLI as a user runs it: `netlab up`
 * in a folder without netlab.yaml brings up the demo lab.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, curlIn, httpGet, sh, withLanPeer } from '../helpers/kernel.js';
import { netlabObjects } from '../helpers/leak-check.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

const dir = tempDir('e2e');
const exec = (...args: string[]) => cli(['exec', ...args], { cwd: dir });

describe('the demo lab, as the README shows it', () => {
  beforeAll(async () => {
    const existing = await sh('ip', ['netns', 'list']);
    if (existing.stdout.includes('netlab-demo-')) throw new Error('a demo lab is already up on this host: "sudo netlab down" it before running the tests');
    const r = await cli(['up'], { cwd: dir });
    expect(r.all).toContain('lab demo is up');
    expect(r.exitCode).toBe(0);
  });

  afterAll(async () => {
    await cli(['down'], { cwd: dir });
    removeTempDir(dir);
  });

  it("serves the welcome page on the host's localhost:8080", async () => {
    expect(await httpGet('http://localhost:8080')).toContain('Welcome to netlab!');
    expect(await httpGet('http://127.0.0.1:8080/whoami')).toMatch(/^172\.31\.\d+\.1\n$/);
  });

  it("reaches web from client by name, by link alias, and gives Docker's link variables", async () => {
    expect((await exec('client', '--', 'curl', '-s', '-m', '3', 'http://web')).stdout).toContain('Welcome to netlab!');
    const ping = await exec('client', '--', 'ping', '-c1', '-W2', 'webalias');
    expect(ping.exitCode).toBe(0);
    const inspect = JSON.parse((await cli(['inspect', 'web', '--json'], { cwd: dir })).stdout)[0];
    const webIp = inspect.NetworkSettings.IPAddress as string;
    expect(ping.stdout).toContain(`(${webIp})`);
    const addr = await exec('client', '--', 'sh', '-c', 'echo $WEBALIAS_PORT_80_TCP_ADDR');
    expect(addr.stdout.trim()).toBe(webIp);
    const env = (await exec('client', '--', 'env')).stdout;
    expect(env).toContain(`WEBALIAS_PORT=tcp://${webIp}:80`);
    expect(env).toContain('WEBALIAS_NAME=/client/webalias');
    expect((await exec('client', '--', 'cat', '/etc/hosts')).stdout).toContain(`${webIp}\twebalias web\n`);
    expect((await exec('web', '--', 'hostname')).stdout.trim()).toBe('web');
  });

  it('shows containers, addresses, ports and links in ps and inspect', async () => {
    const ps = (await cli(['ps'], { cwd: dir })).stdout;
    expect(ps).toMatch(/web\s+Up [A-Za-z0-9 ]+?\s+172\.31\.\d+\.2\s+0\.0\.0\.0:8080->80\/tcp/);
    expect(ps).toMatch(/client\s+up\s+172\.31\.\d+\.3\s+web:webalias/);
    expect(ps.split('\n').every((l) => l.length <= 80)).toBe(true);
    const doc = JSON.parse((await cli(['inspect', 'web', '--json'], { cwd: dir })).stdout)[0];
    expect(doc.NetworkSettings.Ports).toEqual({ '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }] });
    expect(doc.NetworkSettings.MacAddress).toMatch(/^02:42:ac:1f:/);
    expect(doc.NetworkSettings.Gateway).toMatch(/^172\.31\.\d+\.1$/);
    expect(doc.State.Running).toBe(true);
    const client = JSON.parse((await cli(['inspect', 'client', '--json'], { cwd: dir })).stdout)[0];
    expect(client.HostConfig.Links).toEqual(['/web:/client/webalias']);
  });

  it('publishes to another machine on the LAN, keeping its source address', async () => {
    await withLanPeer(async ({ ns, hostAddr, peerAddr }) => {
      expect((await curlIn(ns, `http://${hostAddr}:8080/whoami`))?.trim()).toBe(peerAddr);
    });
  });

  it('lets containers reach the published port through the host (hairpin), even their own', async () => {
    await withLanPeer(async ({ hostAddr }) => {
      for (const c of ['client', 'web']) {
        const r = await exec(c, '--', 'curl', '-s', '-m', '3', `http://${hostAddr}:8080/whoami`);
        expect(r.stdout.trim()).toMatch(/^172\.31\.\d+\.1$/);
      }
    });
  });

  it('keeps the output of the command for logs', async () => {
    expect((await cli(['logs', 'web'], { cwd: dir })).stdout).toContain('netlab serve: listening on 0.0.0.0:80');
  });

  it('changes nothing on a second up', async () => {
    const r = await cli(['up'], { cwd: dir });
    expect(r.stdout).toContain('lab demo is up to date: nothing to change');
    expect((await cli(['up', '--dry-run'], { cwd: dir })).stdout.trim()).toBe('# nothing to change');
  });

  it('leaves nothing of the lab in the kernel after down', async () => {
    const r = await cli(['down'], { cwd: dir });
    expect(r.exitCode).toBe(0);
    expect(netlabObjects().filter((o) => /demo|netlab0/.test(o))).toEqual([]);
    expect(await curlIn('test-none', 'http://127.0.0.1:8080').catch(() => undefined)).toBeUndefined();
    expect((await cli(['down'], { cwd: dir })).stdout).toContain('nothing was up');
  });
});

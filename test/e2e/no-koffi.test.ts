/**
 * Where koffi cannot load (no prebuilt binary for the machine), netlab falls back to iproute2
 * and flock(1), as the README promises: a copy of the build whose node_modules lacks koffi brings
 * up the demo lab's shape, serves through the published port, resolves the link, and comes down.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { execa } from 'execa';
import { cpSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { httpGet, uniqueLab } from '../helpers/kernel.js';
import { tempDir } from '../helpers/tmp.js';

const ROOT = resolve(import.meta.dirname, '../..');
const PORT = 49101;
let copy: string;

/**
 * dist, assets and package.json copied; every package but koffi hard-linked in (a symlink would
 * lead web's server to a clone under /tmp, which the container's private /tmp hides), or linked
 * by a symlink where the copy is on another file system.
 */
function buildWithoutKoffi(): string {
  const dir = tempDir('nokoffi');
  for (const part of ['dist', 'assets', 'package.json']) cpSync(join(ROOT, part), join(dir, part), { recursive: true });
  mkdirSync(join(dir, 'node_modules'));
  for (const pkg of readdirSync(join(ROOT, 'node_modules'))) {
    if (pkg === 'koffi') continue;
    const hard = spawnSync('cp', ['-al', join(ROOT, 'node_modules', pkg), join(dir, 'node_modules', pkg)]);
    if (hard.status !== 0) symlinkSync(join(ROOT, 'node_modules', pkg), join(dir, 'node_modules', pkg));
  }
  return dir;
}

const netlab = (args: string[]) => execa(process.execPath, [join(copy, 'dist/cli/main.js'), ...args], { cwd: copy, reject: false, all: true, env: { NETLAB_BACKEND: '' }, timeout: 60_000 });

describe('without koffi', () => {
  beforeAll(() => {
    copy = buildWithoutKoffi();
  });

  it('brings up the demo lab with iproute2 and flock(1), saying why, and takes it down', async () => {
    const lab = uniqueLab();
    const demo = readFileSync(join(ROOT, 'assets/demo.yaml'), 'utf8')
      .replace('name: demo', `name: ${lab}`)
      .replace('bridge: netlab0', `bridge: nl${lab.slice(-8)}`)
      .replace('8080:80', `${PORT}:80`);
    writeFileSync(join(copy, 'netlab.yaml'), demo);
    try {
      const up = await netlab(['up', '--log-level', 'info']);
      expect(up.exitCode, up.all).toBe(0);
      expect(up.all).toMatch(/netlink backend unavailable, using iproute2 reason=Cannot find module 'koffi'/);
      expect(up.all).toMatch(/host lock is taken with flock\(1\)/);
      // The host's links and routes too are read with ip, and the log says why.
      expect(up.all).toMatch(/the host is read with ip reason=Cannot find module 'koffi'/);
      expect(await httpGet(`http://127.0.0.1:${PORT}/`)).toMatch(/netlab/i);
      const ping = await netlab(['exec', 'client', '--', 'ping', '-c1', '-W2', 'webalias']);
      expect(ping.exitCode, ping.all).toBe(0);
      const again = await netlab(['up']);
      expect(again.all).toMatch(/nothing to change/);
    } finally {
      const down = await netlab(['down']);
      expect(down.exitCode, down.all).toBe(0);
    }
  });

  it('the copy really lacks koffi', async () => {
    const r = await execa(process.execPath, ['-e', "require('koffi')"], { cwd: copy, reject: false });
    expect(r.exitCode).not.toBe(0);
  });
});

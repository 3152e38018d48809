/**
 * A container's environment is the container's: its PATH finds the programs of its command, never
 * the host programs netlab runs to enter it (ip, nsenter, env), which would run as root on the host.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, uniqueLab } from '../helpers/kernel.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

const dir = tempDir('hostenv');
const labs: string[] = [];

afterAll(async () => {
  for (const lab of labs) await cli(['down', '--lab', lab]);
  removeTempDir(dir);
});

describe("a container's PATH", () => {
  it('finds its own programs, and never the host programs netlab runs (up, exec)', async () => {
    const lab = uniqueLab();
    labs.push(lab);
    const fake = join(dir, 'bin');
    const marker = join(dir, 'ran');
    mkdirSync(fake);
    for (const prog of ['ip', 'nsenter', 'env', 'sh']) {
      writeFileSync(join(fake, prog), `#!/bin/sh\necho "${prog} $*" >> ${marker}\nexit 0\n`);
      chmodSync(join(fake, prog), 0o755);
    }
    const file = join(dir, 'netlab.yaml');
    writeFileSync(
      file,
      `name: ${lab}\ncontainers:\n  a:\n    command: [sleep, "1000"]\n    volumes: ["${dir}:${dir}"]\n    env: { PATH: "${fake}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }\n`,
    );
    const up = await cli(['up', '-f', file]);
    expect(up.exitCode, up.all).toBe(0);
    expect(existsSync(marker) ? readFileSync(marker, 'utf8') : '', 'a fake host program ran during up').toBe('');
    const ps = await cli(['ps', '--lab', lab]);
    expect(ps.stdout).toMatch(/a\s+Up /);

    const ex = await cli(['exec', '--lab', lab, 'a', '--', 'true']);
    expect(ex.exitCode, ex.all).toBe(0);
    expect(existsSync(marker) ? readFileSync(marker, 'utf8') : '', 'a fake host program ran during exec').toBe('');

    // Inside, the container's PATH is the one that finds programs (as in Docker); its folder is a
    // volume, as the container's /tmp is its own.
    const inside = await cli(['exec', '--lab', lab, 'a', '--', 'ip', 'link']);
    expect(inside.exitCode, inside.all).toBe(0);
    expect(readFileSync(marker, 'utf8')).toBe('ip link\n');
  });
});

/**
 * `down` with the netlink backend removes each container's mount namespace in-process (umount2),
 * as it does the UTS ones: a umount process per container made a `down` of 200 take seconds.
 */
import { describe, expect, it } from 'vitest';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { CLI, cli, uniqueLab } from '../helpers/kernel.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir('teardown');

/** A `umount` first in PATH that writes its arguments to `log`, then runs the real one. */
async function recordingUmount(log: string): Promise<string> {
  const real = (await execa('bash', ['-c', 'command -v umount'])).stdout.trim();
  const bin = join(dir, 'bin');
  await execa('mkdir', ['-p', bin]);
  writeFileSync(join(bin, 'umount'), `#!/bin/sh\necho "$*" >> ${log}\nexec ${real} "$@"\n`);
  chmodSync(join(bin, 'umount'), 0o755);
  return bin;
}

describe('down (netlink backend)', () => {
  it('unbinds the containers’ mount namespaces without a umount process each, and leaves none mounted', async () => {
    const lab = uniqueLab();
    const file = join(dir, `${lab}.yaml`);
    writeFileSync(file, `name: ${lab}\nnetworks:\n  net: { subnet: 10.236.30.0/24 }\ncontainers:\n  a: { networks: [net] }\n  b: { networks: [net] }\n  c: { networks: [net] }\n`);
    const log = join(dir, 'umount.log');
    const bin = await recordingUmount(log);
    try {
      expect((await cli(['up', '-f', file, '--backend', 'netlink'])).exitCode).toBe(0);
      const mounted = () =>
        readFileSync('/proc/self/mountinfo', 'utf8')
          .split('\n')
          .filter((l) => l.includes(`/netlab/${lab}/mnt/`));
      expect(mounted()).toHaveLength(3);
      writeFileSync(log, '');
      const down = await execa(process.execPath, [CLI, 'down', '-f', file, '--backend', 'netlink'], {
        reject: false,
        all: true,
        env: { PATH: `${bin}:${process.env.PATH}`, NETLAB_LOG_LEVEL: 'warn' },
      });
      expect(down.exitCode, down.all).toBe(0);
      expect(
        readFileSync(log, 'utf8')
          .split('\n')
          .filter((l) => /\/mnt\/[abc]\b/.test(l)),
      ).toEqual([]);
      expect(mounted()).toEqual([]);
    } finally {
      await cli(['down', '-f', file]);
    }
  });
});

/** netlab's own files and folders are never written through, or created behind, a symbolic link. */
import { describe, expect, it } from 'vitest';
import { constants, existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.js';

// A run folder of the test's own: its parent is the trusted root, every folder below is checked.
const base = tempDir('ownfs');
process.env.NETLAB_RUN_DIR = join(base, 'run');
const { NotOwnPathError, openOwn, ownDir, writeOwnAtomic } = await import('../../src/kernel/ownfs.js');

/** A folder outside netlab's, with one file, for links to point at. */
function target(): string {
  const t = mkdtempSync(join(base, 'target-'));
  writeFileSync(join(t, 'keep'), 'mine\n');
  return t;
}

describe('ownfs', () => {
  it('makes the folders below the trusted root, and refuses a link in their place', () => {
    ownDir(join(base, 'run', 'lab1', 'logs'));
    expect(existsSync(join(base, 'run', 'lab1', 'logs'))).toBe(true);
    const t = target();
    symlinkSync(t, join(base, 'run', 'lab2'));
    expect(() => ownDir(join(base, 'run', 'lab2', 'uts'))).toThrow(NotOwnPathError);
    expect(() => writeOwnAtomic(join(base, 'run', 'lab2', 'state.json'), '{}')).toThrow(`${join(base, 'run', 'lab2')} is not a folder`);
    expect(existsSync(join(t, 'uts'))).toBe(false);
    expect(existsSync(join(t, 'state.json'))).toBe(false);
  });

  it('refuses a link at the temporary file, and writes nothing through it', () => {
    const t = target();
    const path = join(base, 'run', 'lab1', 'state.json');
    symlinkSync(join(t, 'keep'), `${path}.netlab-tmp`);
    expect(() => writeOwnAtomic(path, 'new')).toThrow(`${path}.netlab-tmp is not a regular file`);
    expect(readFileSync(join(t, 'keep'), 'utf8')).toBe('mine\n');
    expect(existsSync(path)).toBe(false);
  });

  it('replaces a temporary file an interrupted run left, and leaves none', () => {
    const path = join(base, 'run', 'lab1', 'hosts');
    writeFileSync(`${path}.netlab-tmp`, 'half');
    writeOwnAtomic(path, 'whole\n');
    expect(readFileSync(path, 'utf8')).toBe('whole\n');
    expect(existsSync(`${path}.netlab-tmp`)).toBe(false);
  });

  it('opens a log or namespace file only if it is not a link', () => {
    const t = target();
    const log = join(base, 'run', 'lab1', 'logs', 'c.log');
    symlinkSync(join(t, 'keep'), log);
    expect(() => openOwn(log, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT)).toThrow(NotOwnPathError);
    expect(readFileSync(join(t, 'keep'), 'utf8')).toBe('mine\n');
  });
});

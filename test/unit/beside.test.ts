import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// The thread runs the build's JavaScript (npm test builds first).
import { doWork, pack, runBeside } from '../../src/kernel/beside.js';
import { contentHash, readStamped, statKey } from '../../src/kernel/stamps.js';
import { joinPieces, type TextPiece } from '../../src/model/etcfiles.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) removeTempDir(dir);
  dir = undefined;
});

// Names with letters of more than one UTF-8 byte: the files travel in one buffer, cut by byte offsets.
const files = (root: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({ path: join(root, `ns${i}`, i % 2 ? 'hosts' : 'resolv.conf'), content: `127.0.0.1\tlocalhost\n10.0.0.${i}\tc${i} caf${'é'.repeat(i % 3)}\n` }));

describe('writing /etc files (beside a link step)', () => {
  it('writes each file atomically and stamps it as the next run will find it', () => {
    dir = tempDir('fw');
    const want = files(dir, 5);
    const r = doWork(pack({ files: want, uts: [] }));
    expect(r.failure).toBeUndefined();
    for (const f of want) {
      expect(readFileSync(f.path, 'utf8')).toBe(f.content);
      expect(r.stamps[f.path]).toBe(`${statKey(f.path)}:${contentHash(f.content)}`);
      // The next run trusts the stamp: it gets the content without reading the file.
      expect(readStamped(f.path, f.content, r.stamps[f.path])).toEqual({ text: f.content, stamp: r.stamps[f.path] });
    }
    expect(readdirSync(join(dir, 'ns1'))).toEqual(['hosts']);
  });

  it('writes a file given as pieces (slices of a shared text) with exactly its text, the shared text encoded once', () => {
    dir = tempDir('fw');
    const peers = Array.from({ length: 50 }, (_, i) => `10.0.0.${i}\tc${i}\n`).join('');
    // Not ASCII: its slices' offsets are not byte offsets, so a file with one goes whole.
    const accented = 'caf\u00e9 \u00e9t\u00e9\n';
    const made = Array.from({ length: 20 }, (_, i) => {
      const pieces: TextPiece[] = [
        `127.0.0.1\tlocalhost x${'\u00e9'.repeat(i % 2)}\n`,
        { of: peers, start: 0, end: 12 * (i % 5) },
        { of: peers, start: 12 * (i % 5) + 12, end: peers.length },
        `own${i}\n`,
      ];
      if (i % 7 === 3) pieces.push({ of: accented, start: 2, end: 7 });
      return { path: join(dir!, `ns${i}`, 'hosts'), content: joinPieces(pieces), pieces };
    });
    const packed = pack({ files: made, uts: [] });
    // The peer list once, not 20 times (no file holds all of it).
    expect(Buffer.from(packed.blob).toString('latin1').split(peers).length - 1).toBe(1);
    const r = doWork(packed);
    expect(r.failure).toBeUndefined();
    for (const f of made) {
      expect(readFileSync(f.path, 'utf8')).toBe(f.content);
      expect(r.stamps[f.path]).toBe(`${statKey(f.path)}:${contentHash(f.content)}`);
    }
  });

  it('on a worker thread, gives the same files and stamps, and names the file it could not write', async () => {
    dir = tempDir('fw');
    const want = files(dir, 40);
    // A plain file where a folder should be: the write of the 4th file fails, the rest are not written.
    writeFileSync(join(dir, 'ns3'), 'in the way');
    const r = await runBeside({ files: want, uts: [] });
    expect(r.failure).toMatchObject({ what: 'file', path: want[3]!.path, code: 'EEXIST' });
    expect(Object.keys(r.stamps)).toEqual(want.slice(0, 3).map((f) => f.path));
    for (const f of want.slice(0, 3)) expect(r.stamps[f.path]).toBe(`${statKey(f.path)}:${contentHash(f.content)}`);
    rmSync(join(dir, 'ns3'));
    const again = await runBeside({ files: want, uts: [] });
    expect(again.failure).toBeUndefined();
    expect(Object.keys(again.stamps)).toHaveLength(40);
    for (const f of want) expect(readFileSync(f.path, 'utf8')).toBe(f.content);
  });
});

/**
 * Writing a lab's /etc files: each atomically (a reader sees the old file or the new one), and
 * stamped as it is written (kernel/stamps.ts), so that no pass reads them back. A large lab's
 * files are written by a worker thread while the main thread makes the links (apply.ts): the
 * two touch nothing in common, and this machine kind has a second core.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { contentHash, statKey } from './stamps.js';

export interface FileToWrite {
  path: string;
  content: string;
}

/** What a batch of writes did: a stamp per file written, and the first failure, which ends the batch. */
export interface FilesWritten {
  stamps: Record<string, string>;
  failure?: { path: string; message: string; code?: string };
}

function writeAtomicSync(path: string, content: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.netlab-tmp`;
  writeFileSync(tmp, content, { mode });
  renameSync(tmp, path);
}

/**
 * Writes the file and returns its stamp. Stamped by a stat right after the rename: a write by
 * someone else in between (the lab's lock keeps netlab out) would be taken for netlab's own.
 */
export function writeStamped(path: string, content: string): string | undefined {
  writeAtomicSync(path, content);
  const key = statKey(path);
  return key === undefined ? undefined : `${key}:${contentHash(content)}`;
}

/** Writes the files in order, here; stops at the first failure. */
export function writeAll(files: FileToWrite[]): FilesWritten {
  const stamps: Record<string, string> = {};
  for (const f of files) {
    try {
      const stamp = writeStamped(f.path, f.content);
      if (stamp !== undefined) stamps[f.path] = stamp;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      return { stamps, failure: { path: f.path, message: err.message, code: err.code } };
    }
  }
  return { stamps };
}

/** The worker's module. Run from TypeScript source (the test runner), it is the build's JavaScript. */
const WORKER = new URL(import.meta.url.endsWith('.ts') ? '../../dist/kernel/filewrite-worker.js' : './filewrite-worker.js', import.meta.url);

/** The same as writeAll, on a worker thread. */
export function writeAllInWorker(files: FileToWrite[]): Promise<FilesWritten> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { workerData: files });
    let result: FilesWritten | undefined;
    worker.once('message', (m: FilesWritten) => (result = m));
    worker.once('error', reject);
    worker.once('exit', (code) => (result ? resolve(result) : reject(new Error(`the file-writing thread ended (code ${code}) before it reported`))));
  });
}

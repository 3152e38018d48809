/**
 * Work a second thread does while the main thread makes a lab's links (apply.ts): writing the
 * /etc files and, with the netlink backend, making the UTS namespaces. Neither touches a link,
 * and this machine kind has a second core. The files' contents travel as one transferred
 * buffer: a structured clone of every /etc/hosts (each names every peer: 18 MB at 1000
 * containers) cost the main thread 0.15 s.
 */
import { Worker } from 'node:worker_threads';
import { writeStamped, type FileToWrite } from './filewrite.js';
import { addUts, setUtsHostname } from './namespaces.js';

/** A container's UTS namespace to make (or, when one is mounted there already, to rename). */
export interface UtsToMake {
  path: string;
  hostname: string;
  mounted: boolean;
}

export interface BesideWork {
  files: FileToWrite[];
  uts: UtsToMake[];
}

/** What the thread did: a stamp per file written, and the first failure, which ended its work. */
export interface BesideDone {
  stamps: Record<string, string>;
  failure?: { what: 'file' | 'uts'; path: string; message: string; code?: string };
}

/** The work as it crosses to the thread: every file's content in one buffer, [path, start, end] per file. */
export interface PackedWork {
  blob: ArrayBuffer;
  files: [string, number, number][];
  uts: UtsToMake[];
}

export function pack(work: BesideWork): PackedWork {
  // Sized for the worst case (3 bytes per UTF-16 unit) rather than measured: measuring is a
  // second pass over 18 MB at 1000 containers; the pages past the end are never touched.
  const room = work.files.reduce((n, f) => n + 3 * f.content.length, 0);
  // Its own ArrayBuffer (not a slice of Node's pool), so that it can be transferred.
  const blob = Buffer.allocUnsafeSlow(room);
  const files: [string, number, number][] = [];
  let at = 0;
  for (const f of work.files) {
    const end = at + blob.write(f.content, at);
    files.push([f.path, at, end]);
    at = end;
  }
  return { blob: blob.buffer as ArrayBuffer, files, uts: work.uts };
}

/** Does the work here, in order: the files, then the UTS namespaces; stops at the first failure. */
export function doWork(work: PackedWork): BesideDone {
  const blob = Buffer.from(work.blob);
  const stamps: Record<string, string> = {};
  const failed = (what: 'file' | 'uts', path: string, e: unknown): BesideDone => {
    const err = e as NodeJS.ErrnoException;
    return { stamps, failure: { what, path, message: err.message, code: err.code } };
  };
  for (const [path, start, end] of work.files) {
    try {
      const stamp = writeStamped(path, blob.subarray(start, end));
      if (stamp !== undefined) stamps[path] = stamp;
    } catch (e) {
      return failed('file', path, e);
    }
  }
  for (const u of work.uts) {
    try {
      if (u.mounted) setUtsHostname(u.path, u.hostname);
      else addUts(u.path, u.hostname);
    } catch (e) {
      return failed('uts', u.path, e);
    }
  }
  return { stamps };
}

/** The thread's module. Run from TypeScript source (the test runner), it is the build's JavaScript. */
const WORKER = new URL(import.meta.url.endsWith('.ts') ? '../../dist/kernel/beside-worker.js' : './beside-worker.js', import.meta.url);

/** doWork on a thread of its own. */
export function runBeside(work: BesideWork): Promise<BesideDone> {
  return new Promise((resolve, reject) => {
    const packed = pack(work);
    const worker = new Worker(WORKER, { workerData: packed, transferList: [packed.blob] });
    let result: BesideDone | undefined;
    worker.once('message', (m: BesideDone) => (result = m));
    worker.once('error', reject);
    worker.once('exit', (code) => (result ? resolve(result) : reject(new Error(`the thread beside the link step ended (code ${code}) before it reported`))));
  });
}

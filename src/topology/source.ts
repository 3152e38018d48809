import { closeSync, constants, existsSync, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../errors.js';
import { labNameFromFolder } from '../model/names.js';

export const DEFAULT_FILE = 'netlab.yaml';
export const DEMO_SOURCE = '<demo>';
export const DEMO_FILE = fileURLToPath(new URL('../../assets/demo.yaml', import.meta.url));

export interface LoadOptions {
  /** Topology file; when absent, ./netlab.yaml or else the built-in demo lab. */
  file?: string;
  cwd?: string;
  /** Overrides the lab name (tests give each lab a unique one). */
  name?: string;
}

/** Which file `up` would use: the given one, ./netlab.yaml, or the demo. */
export function resolveTopologyFile(opts: LoadOptions): { path: string; source: string } {
  const cwd = opts.cwd ?? process.cwd();
  if (opts.file) return { path: resolve(cwd, opts.file), source: opts.file };
  const local = resolve(cwd, DEFAULT_FILE);
  if (existsSync(local)) return { path: local, source: DEFAULT_FILE };
  return { path: DEMO_FILE, source: DEMO_SOURCE };
}

/** netlab's limit for a topology file (1 MiB): a larger one is refused unread. */
export const FILE_LIMIT = 1 << 20;

/** The text of the topology `opts` names, its source as the user gave it, and the lab name its folder gives. */
export function readTopologyText(opts: LoadOptions): { text: string; source: string; defaultName: string; dir: string } {
  const { path, source } = resolveTopologyFile(opts);
  const refuse = (message: string) => new InputError([{ path: '', message }], source);
  let fd: number;
  try {
    // Looked at before opening: opening a device can act (a tape rewinds, a watchdog starts).
    const st = statSync(path);
    if (!st.isFile()) throw refuse(`is ${kindOf(st)}, not a regular file: give a topology file`);
    // O_NONBLOCK: a FIFO put in its place meanwhile opens at once (then is refused) instead of hanging.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw refuse(`cannot read the topology file: ${(e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw refuse(`is ${kindOf(st)}, not a regular file: give a topology file`);
    const text = readAtMost(fd, FILE_LIMIT + 1);
    if (text.length > FILE_LIMIT) throw refuse(`the file is larger than ${FILE_LIMIT} bytes, netlab's limit for a topology`);
    return { text: text.toString('utf8'), source, dir: dirname(path), defaultName: source === DEMO_SOURCE ? 'demo' : labNameFromFolder(basename(dirname(path))) };
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw refuse(`cannot read the topology file: ${(e as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

/** Up to `max` bytes of the file, however large it is (or claims to be). */
function readAtMost(fd: number, max: number): Buffer {
  const buf = Buffer.alloc(max);
  let got = 0;
  while (got < max) {
    const n = readSync(fd, buf, got, max - got, null);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'a special file';
}

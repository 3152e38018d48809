/**
 * Where a topology comes from (a file, ./netlab.yaml or the built-in demo), and a cache of the
 * parsed result: parsing and checking a file (the yaml and zod packages) costs a converged `up`
 * more than all its kernel reads, so an unchanged file is not parsed again.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import { writeOwnAtomic } from '../kernel/ownfs.js';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../errors.js';
import { labNameFromFolder } from '../model/names.js';
import { RUN_DIR } from '../paths.js';
import { buildId } from '../build.js';
import type { Topology } from './types.js';

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

/** The parser's own build: a new netlab (other rules, other defaults) never reuses an old result. */
const PARSER_BUILD = buildId([
  ...['load', 'schema', 'types', 'container', 'networks', 'hostnames', 'limits', 'shape', 'quote', 'yamlpos', 'runtime', 'health'].map((m) => `./topology/${m}.js`),
  ...['names', 'ports', 'links', 'ipv4', 'special'].map((m) => `./model/${m}.js`),
]);

const cacheFile = (key: string) => join(RUN_DIR, '.topology', `${key}.json`);

/**
 * The topology of `opts`, like loadTopology, from the cache when this very text was parsed with
 * the same name, source and netlab build before (only root writes the cache, under /run/netlab).
 * A file with errors is never cached: it is parsed, and reported, every time.
 */
export async function loadTopologyCached(opts: LoadOptions = {}): Promise<Topology> {
  const { text, source, defaultName, dir } = readTopologyText(opts);
  // The folder too: relative volume paths start from it.
  const key = createHash('sha256')
    .update(JSON.stringify([text, source, defaultName, dir, opts.name ?? null, PARSER_BUILD]))
    .digest('hex')
    .slice(0, 32);
  const file = cacheFile(key);
  try {
    // Only a file root made and only root can change (the cache decides what `up` builds).
    const safe = (p: string) => {
      const st = lstatSync(p);
      return st.uid === 0 && (st.mode & 0o022) === 0;
    };
    if (safe(dirname(file)) && safe(file)) {
      const cached = JSON.parse(await readFile(file, 'utf8')) as { key: string; topology: Topology };
      if (cached.key === key) return cached.topology;
    }
  } catch {
    /* not cached, or unreadable: parse */
  }
  const { parseTopology } = await import('./load.js');
  const topology = parseTopology(text, { source, defaultName, name: opts.name, dir });
  if (process.getuid?.() === 0) {
    try {
      // Never through a symbolic link planted in netlab's folder (kernel/ownfs.ts).
      writeOwnAtomic(file, JSON.stringify({ key, topology }), 0o600, 0o700);
      await prune(dirname(file));
    } catch {
      /* a cache only */
    }
  }
  return topology;
}

/** The cache keeps the most recently written topologies only. */
const CACHE_ENTRIES = 64;

async function prune(dir: string): Promise<void> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json'));
  if (names.length <= CACHE_ENTRIES) return;
  const aged = await Promise.all(names.map(async (n) => ({ n, t: (await stat(join(dir, n)).catch(() => undefined))?.mtimeMs ?? 0 })));
  aged.sort((a, b) => b.t - a.t);
  await Promise.all(aged.slice(CACHE_ENTRIES).map(({ n }) => rm(join(dir, n), { force: true })));
}

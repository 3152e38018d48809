/**
 * A cache of parsed topologies: parsing and checking a file (the yaml and zod packages) costs a
 * converged `up` more than all its kernel reads, so an unchanged file is not parsed again. The
 * parser is loaded only on a miss.
 */
import { createHash } from 'node:crypto';
import { lstatSync } from 'node:fs';
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeOwnAtomic } from '../kernel/ownfs.js';
import { RUN_DIR } from '../paths.js';
import { buildId } from '../build.js';
import { readTopologyText, type LoadOptions } from './source.js';
import type { Topology } from './types.js';

/** The parser's own build: a new netlab (other rules, other defaults) never reuses an old result. */
const PARSER_BUILD = buildId([
  ...['load', 'schema', 'types', 'container', 'networks', 'hostnames', 'limits', 'shape', 'quote', 'yamlpos', 'runtime', 'health', 'networks6', 'container6', 'impair'].map(
    (m) => `./topology/${m}.js`,
  ),
  ...['names', 'ports', 'links', 'ipv4', 'ipv6', 'special', 'impair'].map((m) => `./model/${m}.js`),
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

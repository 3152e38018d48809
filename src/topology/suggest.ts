/** "Did you mean" for a misspelt key or name: the closest of the known ones, or Docker's word for it. */
import type { z } from 'zod';
import type { PathSegment } from './yamlpos.js';

/** Compose and docker-run words a Docker user types, and netlab's key for each. */
const DOCKER_WORDS: Record<string, string> = {
  ports: 'publish',
  environment: 'env',
  entrypoint: 'command',
  working_dir: 'workdir',
  dns_search: 'dnsSearch',
  dns_opt: 'dnsOptions',
  ipv4_address: 'ip',
  service: 'containers',
  services: 'containers',
};

/** Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`, letters compared without case. */
export function editDistance(a: string, b: string): number {
  const [s, t] = [a.toLowerCase(), b.toLowerCase()];
  let before: number[] = [];
  let row = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const next = [i];
    for (let j = 1; j <= t.length; j++) {
      let d = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (s[i - 1] === t[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      next.push(d);
    }
    [before, row] = [row, next];
  }
  return row[t.length]!;
}

/**
 * The known word `word` most likely stands for: Docker's synonym when netlab knows it here, else
 * the nearest by edit distance, if near enough (a third of the word's length, at least one edit).
 */
export function closest(word: string, known: Iterable<string>): string | undefined {
  const candidates = [...known];
  const synonym = DOCKER_WORDS[word];
  if (synonym !== undefined && candidates.includes(synonym)) return synonym;
  const limit = Math.max(1, Math.floor(word.length / 3));
  let best: { name: string; d: number } | undefined;
  for (const name of candidates) {
    const d = editDistance(word, name);
    if (d <= limit && (!best || d < best.d)) best = { name, d };
  }
  return best?.name;
}

/** `: did you mean "x"?` after a message, or nothing when no known word is near. */
export function didYouMean(word: string, known: Iterable<string>): string {
  const hint = closest(word, known);
  return hint === undefined ? '' : `: did you mean "${hint}"?`;
}

type AnySchema = z.ZodType & { _zod: { def: Record<string, unknown> & { type: string } } };

/** The keys an object of `schema` takes at `path` (zod's own definitions, walked through optional, default, record and union). */
export function keysAt(schema: z.ZodType, path: readonly PathSegment[]): string[] {
  const found = new Set<string>();
  const walk = (s: AnySchema, rest: readonly PathSegment[]): void => {
    const def = s._zod.def;
    if (def.type === 'object') {
      const shape = def.shape as Record<string, AnySchema>;
      if (rest.length === 0) for (const k of Object.keys(shape)) found.add(k);
      else if (shape[String(rest[0])]) walk(shape[String(rest[0])]!, rest.slice(1));
    } else if (def.type === 'union') for (const o of def.options as AnySchema[]) walk(o, rest);
    else if (def.type === 'pipe') walk(def.in as AnySchema, rest);
    else if (def.innerType) walk(def.innerType as AnySchema, rest);
    else if (rest.length > 0 && def.type === 'record') walk(def.valueType as AnySchema, rest.slice(1));
    else if (rest.length > 0 && def.type === 'array') walk(def.element as AnySchema, rest.slice(1));
  };
  walk(schema as AnySchema, path);
  return [...found];
}

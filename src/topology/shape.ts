/**
 * Guards on a file's shape that run before or beside the checks of its fields: nesting depth
 * (before parsing), the number of containers and networks (before any per-container work),
 * and link cycles (iteratively: a lab's links may chain through all its containers).
 */
import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { InputProblem } from '../errors.js';
import { lineOf } from './yamlpos.js';
import type { ContainerDef } from './types.js';

/** The line where flow or block nesting first goes deeper than `max`, outside quoted text and comments. */
export function nestingBeyond(text: string, max: number): number | undefined {
  let line = 1;
  let flow = 0;
  let quote: string | undefined;
  let comment = false;
  let lineStart = true;
  let indent = 0;
  for (const ch of text) {
    if (ch === '\n') {
      line++;
      comment = false;
      lineStart = true;
      indent = 0;
      if (quote === "'") quote = undefined;
      continue;
    }
    if (lineStart) {
      if (ch === ' ' || ch === '-') {
        // Block nesting: at most four columns of indentation (or "- ") per level.
        if (++indent > 4 * max) return line;
        continue;
      }
      lineStart = false;
    }
    if (comment) continue;
    if (quote) {
      if (ch === quote) quote = undefined;
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '#') comment = true;
    else if (ch === '[' || ch === '{') {
      if (++flow > max) return line;
    } else if (ch === ']' || ch === '}') flow = Math.max(0, flow - 1);
  }
  return undefined;
}

/**
 * Keys given twice in one map, found in one pass with a set per map (the yaml package's own
 * `uniqueKeys` compares each key with every earlier one: quadratic in a large map).
 */
export function duplicateKeys(doc: Document, lc: LineCounter): InputProblem[] {
  const problems: InputProblem[] = [];
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isSeq(node)) for (const item of node.items) stack.push(item);
    if (!isMap(node)) continue;
    const seen = new Set<string>();
    for (const pair of node.items) {
      stack.push(pair.value);
      if (!isScalar(pair.key)) continue;
      // By the text toJS makes of it: `1` and `"1"` would be one key of the object.
      const key = String(pair.key.value);
      if (seen.has(key)) {
        const range = (pair.key as Node).range;
        problems.push({ path: '', message: 'YAML syntax: Map keys must be unique', line: range ? lc.linePos(range[0]).line : undefined });
      }
      seen.add(key);
    }
  }
  return problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

/** Refuses a lab beyond netlab's size limits before any per-container work. */
export function tooMany(data: unknown, doc: Document, lc: LineCounter, limits: { containers: number; networks: number }): InputProblem | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const d = data as { containers?: unknown; networks?: unknown };
  for (const key of ['containers', 'networks'] as const) {
    const v = d[key];
    const n = typeof v === 'object' && v !== null ? Object.keys(v).length : 0;
    if (n > limits[key]) return { path: key, message: `${n} ${key} exceed netlab's limit of ${limits[key]} per lab`, line: lineOf(doc, lc, [key], true) };
  }
  return undefined;
}

/** A cycle of links (`a -> b -> a`), found by a depth-first walk with its own stack. */
export function findLinkCycle(containers: ContainerDef[]): string[] | undefined {
  const edges = new Map(containers.map((c) => [c.name, c.links.map((l) => l.target).filter((t) => t !== c.name)]));
  const done = new Set<string>();
  for (const c of containers) {
    if (done.has(c.name)) continue;
    const path: string[] = [];
    const onPath = new Set<string>();
    const stack: { node: string; next: number }[] = [{ node: c.name, next: 0 }];
    path.push(c.name);
    onPath.add(c.name);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const out = edges.get(top.node) ?? [];
      if (top.next >= out.length) {
        stack.pop();
        path.pop();
        onPath.delete(top.node);
        done.add(top.node);
        continue;
      }
      const m = out[top.next++]!;
      if (onPath.has(m)) return [...path.slice(path.indexOf(m)), m];
      if (done.has(m) || !edges.has(m)) continue;
      stack.push({ node: m, next: 0 });
      path.push(m);
      onPath.add(m);
    }
  }
  return undefined;
}

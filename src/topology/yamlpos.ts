/** Finds the line of a YAML path in a parsed document, so every error can name its line. */
import { isMap, isSeq, isScalar, type Document, type LineCounter, type Node } from 'yaml';
import { pathSegment } from './quote.js';

export type PathSegment = string | number;

/** Line (1-based) of the node at `path`; with `atKey`, of the last key itself. Falls back to the nearest parent. */
export function lineOf(doc: Document, lc: LineCounter, path: PathSegment[], atKey = false): number | undefined {
  let node: unknown = doc.contents;
  let line = lineOfNode(node, lc);
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (isMap(node)) {
      // A key `80` is the number 80 in YAML and the segment "80" in a path: compare as text.
      const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(seg));
      if (!pair) break;
      const last = i === path.length - 1;
      const keyLine = lineOfNode(pair.key, lc);
      node = last && atKey ? pair.key : (pair.value ?? pair.key);
      line = lineOfNode(node, lc) ?? keyLine ?? line;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      if (node === undefined) break;
      line = lineOfNode(node, lc) ?? line;
    } else {
      break;
    }
  }
  return line;
}

function lineOfNode(node: unknown, lc: LineCounter): number | undefined {
  const range = (node as Node | undefined)?.range;
  return range ? lc.linePos(range[0]).line : undefined;
}

/** `['containers', 'web', 'publish', 0]` → `containers.web.publish[0]`; a key that is no name is quoted (quote.ts). */
export function formatPath(path: PathSegment[]): string {
  return path.reduce<string>((acc, seg) => {
    if (typeof seg === 'number') return `${acc}[${seg}]`;
    const shown = pathSegment(seg);
    return shown.startsWith('[') || !acc ? `${acc}${shown}` : `${acc}.${shown}`;
  }, '');
}

/** For each entry of the top-level map `top` (`containers`), the line of every item of its list `key` (`publish`), in one pass. */
export function listLines(doc: Document, lc: LineCounter, top: string, key: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const root = doc.contents;
  const map = isMap(root) ? root.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === top)?.value : undefined;
  if (!isMap(map)) return out;
  for (const pair of map.items) {
    const name = isScalar(pair.key) ? String(pair.key.value) : undefined;
    const entry = pair.value;
    const list = name !== undefined && isMap(entry) ? entry.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === key)?.value : undefined;
    if (name === undefined || !isSeq(list)) continue;
    out.set(
      name,
      list.items.map((item) => lineOfNode(item, lc) ?? 0),
    );
  }
  return out;
}

/**
 * The boxes a Graphviz SVG draws: each node's shape, each text's extent, per drawn element
 * (node, cluster, edge, graph). Text widths use Helvetica's metrics, the font the DOT asks for
 * and the one Graphviz sized the shapes with, plus a margin for a substitute font.
 */
import { XMLParser } from 'fast-xml-parser';

export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface Drawn {
  kind: 'node' | 'cluster' | 'edge' | 'graph';
  /** Graphviz's <title>: the node id, `cluster_<id>`, or `a--b` for an edge. */
  title: string;
  /** The node's outline (nodes and clusters); undefined for edges and the graph. */
  shape?: Box;
  texts: { text: string; box: Box }[];
}

// Helvetica's advance widths (1/1000 em) for ASCII 32..126, from its AFM.
const HELVETICA = [
  278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611,
  778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833,
  556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];
/** How much wider than Helvetica a substitute font may draw. */
const FONT_MARGIN = 1.1;

export function textWidth(text: string, fontSize: number): number {
  let em = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    em += code >= 32 && code <= 126 ? HELVETICA[code - 32]! : 1000;
  }
  return (em / 1000) * fontSize * FONT_MARGIN;
}

const union = (boxes: Box[]): Box | undefined =>
  boxes.length ? { x1: Math.min(...boxes.map((b) => b.x1)), y1: Math.min(...boxes.map((b) => b.y1)), x2: Math.max(...boxes.map((b) => b.x2)), y2: Math.max(...boxes.map((b) => b.y2)) } : undefined;

const ofPoints = (nums: number[]): Box | undefined => {
  const xs = nums.filter((_, i) => i % 2 === 0);
  const ys = nums.filter((_, i) => i % 2 === 1);
  return xs.length ? { x1: Math.min(...xs), y1: Math.min(...ys), x2: Math.max(...xs), y2: Math.max(...ys) } : undefined;
};

const numbers = (s: string) => (s.match(/-?\d+(\.\d+)?/g) ?? []).map(Number);
const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
type El = Record<string, unknown>;

function shapeOf(g: El): Box | undefined {
  const boxes: (Box | undefined)[] = [
    ...list(g.polygon as El | El[]).map((p) => ofPoints(numbers(String(p['@_points'])))),
    ...list(g.polyline as El | El[]).map((p) => ofPoints(numbers(String(p['@_points'])))),
    ...list(g.path as El | El[]).map((p) => ofPoints(numbers(String(p['@_d'])))),
    ...list(g.ellipse as El | El[]).map((e) => {
      const [cx, cy, rx, ry] = ['cx', 'cy', 'rx', 'ry'].map((k) => Number(e[`@_${k}`]));
      return { x1: cx! - rx!, y1: cy! - ry!, x2: cx! + rx!, y2: cy! + ry! };
    }),
  ];
  return union(boxes.filter((b): b is Box => b !== undefined));
}

function textsOf(g: El): Drawn['texts'] {
  return list(g.text as El | El[]).map((t) => {
    const text = String(t['#text'] ?? '');
    const size = Number(t['@_font-size']);
    const [x, y] = [Number(t['@_x']), Number(t['@_y'])];
    const w = textWidth(text, size);
    const anchor = String(t['@_text-anchor'] ?? 'start');
    const x1 = anchor === 'middle' ? x - w / 2 : anchor === 'end' ? x - w : x;
    return { text, box: { x1, y1: y - 0.75 * size, x2: x1 + w, y2: y + 0.25 * size } };
  });
}

/** Every drawn element of a Graphviz SVG, with its outline and its texts' boxes. */
export function drawnElements(svg: string): Drawn[] {
  const doc = new XMLParser({ ignoreAttributes: false, htmlEntities: true, isArray: (name) => name === 'g' }).parse(svg) as El;
  const out: Drawn[] = [];
  const walk = (g: El) => {
    const kind = String(g['@_class'] ?? '');
    if (kind === 'node' || kind === 'cluster' || kind === 'edge' || kind === 'graph') {
      const title = String(g.title ?? '');
      out.push({ kind, title, ...(kind === 'node' || kind === 'cluster' ? { shape: shapeOf(g) } : {}), texts: textsOf(g) });
    }
    for (const sub of list(g.g as El[])) walk(sub);
    for (const a of list(g.a as El | El[])) walk(a);
  };
  for (const g of list((doc.svg as El).g as El[])) walk(g);
  return out;
}

export const intersects = (a: Box, b: Box) => a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2;
export const inside = (a: Box, b: Box) => a.x1 >= b.x1 && a.x2 <= b.x2 && a.y1 >= b.y1 && a.y2 <= b.y2;

/** Each text that covers another element's text or another node's outline, as readable lines. */
export function overlaps(drawn: Drawn[]): string[] {
  const found: string[] = [];
  for (const a of drawn) {
    for (const t of a.texts) {
      for (const b of drawn) {
        if (b === a) continue;
        if (b.kind === 'node' && b.shape && intersects(t.box, b.shape)) found.push(`${a.kind} ${a.title}: "${t.text}" covers node ${b.title}`);
        for (const u of b.texts) if (intersects(t.box, u.box)) found.push(`${a.kind} ${a.title}: "${t.text}" covers ${b.kind} ${b.title}'s "${u.text}"`);
      }
    }
  }
  return found;
}

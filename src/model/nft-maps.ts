/**
 * nftables lookups that cost the same with 10 published ports or 10,000: the DNATs of a lab
 * that name a port become one `dnat ip to tcp dport map { ... }` per address and protocol, the
 * ACCEPTs of published ports one `ip daddr . tcp dport { ... }` set per bridge and protocol;
 * both are hash lookups in the kernel. Ranges published onto the same range stay one rule each.
 * A set lists its elements in an order of nft's own, so rule texts compare with their elements
 * sorted (canonicalSets) on both sides.
 */
import type { DnatTarget, Rule } from './firewall.js';
import { ipOf, nftRuleText } from './nft-text.js';
import { mark } from './names.js';

/** The DNAT rules of a chain, those with a port target merged into maps. */
export function dnatMaps(lab: string, rules: Rule[]): string[] {
  return mergeRules(
    lab,
    rules,
    (r) => r.target.kind === 'DNAT' && (r.target as DnatTarget).port !== undefined && !!r.proto && r.dport !== undefined,
    (r) => `${r.dst?.not ? '!' : ''}${r.dst?.value ?? ''}|${ipOf((r.target as DnatTarget).ip)}|${r.proto}`,
    (r) => {
      const t = r.target as DnatTarget;
      const count = r.dportEnd === undefined ? 1 : r.dportEnd - r.dport! + 1;
      return Array.from({ length: count }, (_, i) => `${r.dport! + i} : ${t.ip} . ${t.port! + i}`);
    },
    (first, elements) => {
      const head = nftRuleText(lab, { dst: first.dst, target: { kind: 'ACCEPT' } }).replace(/accept comment .*$/, '');
      return `${head}dnat ${ipOf((first.target as DnatTarget).ip)} to ${first.proto} dport map { ${sortElements(elements).join(', ')} } comment "${mark.rule(lab)}"`;
    },
  );
}

/** The rules of the ports chain, the ACCEPTs of single published ports merged into sets. */
export function acceptSets(lab: string, rules: Rule[]): string[] {
  return mergeRules(
    lab,
    rules,
    (r) => r.target.kind === 'ACCEPT' && !r.src && r.sport === undefined && !!r.dst && !!r.in?.not && !!r.out && !!r.proto && r.dport !== undefined && r.dportEnd === undefined,
    (r) => `${r.in!.value}|${r.out!.value}|${ipOf(r.dst!.value)}|${r.proto}`,
    (r) => [`${r.dst!.value.replace(/\/(32|128)$/, '')} . ${r.dport}`],
    (first, elements) => {
      const head = nftRuleText(lab, { in: first.in, out: first.out, target: { kind: 'ACCEPT' } }).replace(/accept comment .*$/, '');
      return `${head}${ipOf(first.dst!.value)} daddr . ${first.proto} dport { ${sortElements([...new Set(elements)]).join(', ')} } accept comment "${mark.rule(lab)}"`;
    },
  );
}

/** Rules that `fits` merged by `key` into one rule at the place of the first; the rest as they are. */
function mergeRules(lab: string, rules: Rule[], fits: (r: Rule) => boolean, key: (r: Rule) => string, elements: (r: Rule) => string[], text: (first: Rule, elements: string[]) => string): string[] {
  const groups = new Map<string, { first: Rule; elements: string[]; at: number }>();
  const out: (string | { key: string })[] = [];
  for (const r of rules) {
    if (!fits(r)) {
      out.push(nftRuleText(lab, r));
      continue;
    }
    const k = key(r);
    const g = groups.get(k);
    if (g) g.elements.push(...elements(r));
    else {
      groups.set(k, { first: r, elements: elements(r), at: out.length });
      out.push({ key: k });
    }
  }
  return out.map((o) => (typeof o === 'string' ? o : text(groups.get(o.key)!.first, groups.get(o.key)!.elements)));
}

/** Set elements in a fixed order: numbers by value, part by part. */
export function sortElements(elements: string[]): string[] {
  return elements.sort(compareElements);
}

function compareElements(a: string, b: string): number {
  const ka = sortKey(a);
  const kb = sortKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** `8080 : fd00::2 . 80` → fixed-width parts that sort as the numbers and addresses they are. */
function sortKey(element: string): string {
  return element
    .split(/ [.:] /)
    .map((part) => {
      if (part.includes(':')) return expand6(part);
      if (part.includes('.'))
        return part
          .split('.')
          .map((o) => o.padStart(3, '0'))
          .join('.');
      return part.padStart(5, '0');
    })
    .join('|');
}

/** An IPv6 address as 32 hex digits. */
function expand6(a: string): string {
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => g.padStart(4, '0')).join('');
}

/** A rule as nft lists it with the elements of its `{ ... }` sets and maps sorted. */
export function canonicalSets(rule: string): string {
  return rule.replace(/\{ ([^{}]*) \}/g, (_, body: string) => `{ ${sortElements(body.split(', ')).join(', ')} }`);
}

/**
 * nftables backend: reads `table inet netlab` with `nft -a list table` (the rule text is the
 * form nft-rules.ts renders, with each rule's handle), and changes it in ONE `nft -f`
 * transaction: the lab's own chains are flushed and refilled, its rules in shared chains are
 * deleted by handle and inserted again. Rules of other labs (or anyone else) in the table are
 * never touched; a shared chain, and the table, go only when nothing else is left in them.
 */
import type { FirewallState, FirewallTable } from '../plan/state.js';
import { chainOf } from '../model/iptables-rules.js';
import { mark } from '../model/names.js';
import { NFT_BASE_CHAINS, NFT_FAMILY, NFT_SHARED, NFT_SHARED_CHAIN, NFT_TABLE, NFT_TABLE_KEY } from '../model/nft-rules.js';
import { run } from './run.js';
import { canonicalSets } from '../model/nft-maps.js';

const ROLES = ['dnat', 'post', 'fwd', 'ports', 'raw'] as const;
/** Key in `others` for chains of the table that belong to no lab's share (another lab's chains). */
export const FOREIGN_CHAINS = '*chains';
const T = `${NFT_FAMILY} ${NFT_TABLE}`;

/** Parses `nft -a list table inet netlab` into the lab's view of the table. */
export function parseNftList(lab: string, text: string): FirewallTable {
  const own = new Set<string>(ROLES.map((r) => chainOf(lab, r)));
  const comment = `comment "${mark.rule(lab)}"`;
  const t: Required<Pick<FirewallTable, 'chains' | 'jumps' | 'rules' | 'shared' | 'others' | 'handles'>> = {
    chains: [],
    jumps: [],
    rules: [],
    shared: [],
    others: {},
    handles: {},
  };
  let chain: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const head = /^chain (\S+) \{/.exec(line);
    if (head) {
      chain = head[1]!;
      if (own.has(chain)) t.chains.push(chain);
      else if (NFT_SHARED.includes(chain)) {
        t.shared.push(chain);
        t.others[chain] ??= 0;
      } else t.others[FOREIGN_CHAINS] = (t.others[FOREIGN_CHAINS] ?? 0) + 1;
      continue;
    }
    if (line === '}') {
      chain = undefined;
      continue;
    }
    const rule = /^(.*) # handle (\d+)$/.exec(line);
    if (!chain || !rule || line.startsWith('type ') || line.startsWith('table ')) continue;
    const body = canonicalSets(rule[1]!);
    if (own.has(chain)) t.rules.push(`${chain} ${body}`);
    else if (NFT_SHARED.includes(chain) && body.endsWith(comment)) {
      t.jumps.push(`${chain} ${body}`);
      t.handles[`${chain} ${body}`] = Number(rule[2]);
    } else if (NFT_SHARED.includes(chain)) t.others[chain] = (t.others[chain] ?? 0) + 1;
  }
  return t;
}

export async function observeNftables(lab: string): Promise<FirewallState> {
  const none = { backend: 'nftables' as const, tables: { [NFT_TABLE_KEY]: { chains: [], jumps: [], rules: [] } } };
  // Most hosts have no netlab table (labs use iptables by default): asking the kernel in-process
  // saves starting `nft` for nothing. Where that cannot be asked, nft answers as before.
  if ((await tableExists()) === false) return none;
  const r = await run('nft', ['-a', 'list', 'table', NFT_FAMILY, NFT_TABLE], { allowFail: true });
  // No table (or no nft at all): the lab has nothing there.
  const table = r.exitCode === 0 ? parseNftList(lab, r.stdout) : { chains: [], jumps: [], rules: [] };
  return { backend: 'nftables', tables: { [NFT_TABLE_KEY]: table } };
}

async function tableExists(): Promise<boolean | undefined> {
  try {
    const { nftTableExists } = await import('./nldump.js');
    return nftTableExists(NFT_FAMILY, NFT_TABLE);
  } catch {
    // Not askable in-process (no koffi, no nf_tables netlink here): `nft` answers instead, so nothing is hidden.
    return undefined;
  }
}

const EMPTY: FirewallTable = { chains: [], jumps: [], rules: [] };
const split = (entry: string) => {
  const i = entry.indexOf(' ');
  return [entry.slice(0, i), entry.slice(i + 1)] as const;
};

/** The `nft -f` script that turns `have` into `want` (either may be absent), as one transaction. */
export function nftScript(want: FirewallState | undefined, have: FirewallState | undefined): string {
  const w = want?.tables[NFT_TABLE_KEY] ?? EMPTY;
  const h = have?.tables[NFT_TABLE_KEY] ?? EMPTY;
  const haveTable = (h.shared?.length ?? 0) + h.chains.length + Object.keys(h.others ?? {}).length > 0;
  if (w.chains.length + w.jumps.length === 0 && !haveTable) return '';
  const out: string[] = [];
  const wantsAny = w.chains.length + w.jumps.length > 0;
  if (wantsAny) {
    out.push(`add table ${T}`);
    for (const c of w.shared ?? []) out.push(NFT_BASE_CHAINS[c] ? `add chain ${T} ${c} { ${NFT_BASE_CHAINS[c]} }` : `add chain ${T} ${c}`);
    for (const c of w.chains) out.push(`add chain ${T} ${c}`);
  }
  for (const c of new Set([...w.chains, ...h.chains])) if (h.chains.includes(c)) out.push(`flush chain ${T} ${c}`);
  for (const j of h.jumps) {
    const [chain] = split(j);
    out.push(`delete rule ${T} ${chain} handle ${h.handles?.[j]}`);
  }
  for (const c of h.chains) if (!w.chains.includes(c)) out.push(`delete chain ${T} ${c}`);
  for (const j of w.jumps) {
    const [chain, text] = split(j);
    out.push(`insert rule ${T} ${chain} ${text}`);
  }
  for (const r of w.rules) {
    const [chain, text] = split(r);
    out.push(`add rule ${T} ${chain} ${text}`);
  }
  // What no lab needs any more goes: the isolation chains (stage 1 first: it jumps to stage 2),
  // then the base chains, then the table when nothing else is in it.
  const left = (c: string) => (h.others?.[c] ?? 0) > 0;
  const gone = (h.shared ?? []).filter((c) => !(w.shared ?? []).includes(c) && !left(c));
  const iso = [NFT_SHARED_CHAIN.isolation1, NFT_SHARED_CHAIN.isolation2];
  const keepStage2 = left(NFT_SHARED_CHAIN.isolation1);
  const ordered = [...iso.filter((c) => gone.includes(c) && !(c === NFT_SHARED_CHAIN.isolation2 && keepStage2)), ...gone.filter((c) => !iso.includes(c))];
  const tableEmpty = !wantsAny && Object.values(h.others ?? {}).every((n) => n === 0) && ordered.length === (h.shared ?? []).length;
  if (tableEmpty && haveTable) out.push(`delete table ${T}`);
  else for (const c of ordered) out.push(`delete chain ${T} ${c}`);
  return out.length ? `${out.join('\n')}\n` : '';
}

export async function applyNftables(want: FirewallState | undefined, have: FirewallState | undefined): Promise<void> {
  const script = nftScript(want, have);
  if (script) await run('nft', ['-f', '-'], { input: script });
}

/**
 * The text of the rules a trace names, as `netlab explain` prints them. The trace shows an
 * iptables-nft rule in nft's words and without its comment; its handle finds it in the
 * table's listing, and the same position in `iptables-save` gives the iptables text.
 */
import { run } from '../kernel/run.js';
import { inNs } from './kernel.js';

/** `<table> <chain> <handle>` → `-A CHAIN ...` as iptables-save prints it. */
export type IptablesTexts = Map<string, string>;

export async function iptablesTexts(ns: string | undefined, tables: string[]): Promise<IptablesTexts> {
  const out: IptablesTexts = new Map();
  for (const table of tables) {
    const [sf, sa] = inNs(ns, 'iptables-save', ['-t', table]);
    const [nf, na] = inNs(ns, 'nft', ['-j', '-a', 'list', 'table', 'ip', table]);
    const [save, list] = await Promise.all([run(sf, sa, { allowFail: true }), run(nf, na, { allowFail: true })]);
    if (save.exitCode !== 0 || list.exitCode !== 0) continue;
    zipRules(table, save.stdout, list.stdout, out);
  }
  return out;
}

/** Pairs each chain's rules in `iptables-save` order with the handles `nft -j` lists in the same order. */
export function zipRules(table: string, saved: string, nftJson: string, out: IptablesTexts): void {
  const byChain = new Map<string, string[]>();
  for (const line of saved.split('\n')) {
    const m = /^-A (\S+) /.exec(line);
    if (m) byChain.set(m[1]!, [...(byChain.get(m[1]!) ?? []), line]);
  }
  const handles = new Map<string, number[]>();
  const doc = JSON.parse(nftJson || '{}') as { nftables?: { rule?: { chain: string; handle: number } }[] };
  for (const item of doc.nftables ?? []) {
    if (item.rule) handles.set(item.rule.chain, [...(handles.get(item.rule.chain) ?? []), item.rule.handle]);
  }
  for (const [chain, lines] of byChain) {
    const hs = handles.get(chain) ?? [];
    if (hs.length !== lines.length) continue; // changed between the two reads
    for (const [i, h] of hs.entries()) out.set(`${table} ${chain} ${h}`, lines[i]!);
  }
}

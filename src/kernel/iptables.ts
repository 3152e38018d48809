/**
 * iptables backend: reads the lab's chains and rules from `iptables-save`, and replaces them
 * in one `iptables-restore --noflush` transaction per table. Declaring a chain in --noflush
 * mode flushes only that chain, so only the lab's own chains are declared; built-in chains and
 * the shared isolation chains are touched only by the lab's own rules, each added with -I and
 * deleted with -D by its exact text, so no other rule on the host ever changes.
 */
import type { FirewallState, FirewallTable } from '../plan/state.js';
import { chainOf, IPTABLES_TABLES, SHARED_IPTABLES_CHAIN, tableKey, type Family } from '../model/iptables-rules.js';
import { mark } from '../model/names.js';
import { run } from './run.js';
import { KernelError } from '../errors.js';

const ROLES = ['dnat', 'post', 'fwd', 'ports', 'raw'] as const;
const SHARED = Object.values(SHARED_IPTABLES_CHAIN);

/** Parses `iptables-save -t TABLE` output into the lab's view of that table. */
export function parseIptablesSave(lab: string, text: string): FirewallTable {
  const chains = new Set<string>(ROLES.map((r) => chainOf(lab, r)));
  const comment = `--comment "${mark.rule(lab)}"`;
  const t: Required<Pick<FirewallTable, 'chains' | 'jumps' | 'rules' | 'shared' | 'others'>> = { chains: [], jumps: [], rules: [], shared: [], others: {} };
  for (const line of text.split('\n')) {
    if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0]!;
      if (chains.has(name)) t.chains.push(name);
      if (SHARED.includes(name)) {
        t.shared.push(name);
        t.others[name] ??= 0;
      }
    } else if (line.startsWith('-A ')) {
      const chain = line.split(' ')[1]!;
      if (chains.has(chain)) t.rules.push(line);
      else if (line.includes(comment) && (isBuiltin(chain) || SHARED.includes(chain))) t.jumps.push(line);
      else if (SHARED.includes(chain)) t.others[chain] = (t.others[chain] ?? 0) + 1;
    }
  }
  return t;
}

/**
 * Takes out of `t` the chains with the lab's names that the lab did not make, and says why.
 * An empty chain no rule leads to is someone else's, unless the lab is known to be up here
 * (`known`): then it is what a firewall reload (`iptables -F`) left of the lab's own.
 */
function disownForeignChains(lab: string, table: string, t: FirewallTable, known: boolean, program = 'iptables'): string[] {
  const comment = `--comment "${mark.rule(lab)}"`;
  const foreign: string[] = [];
  const rulesOf = (name: string) => t.rules.filter((r) => r.split(' ')[1] === name);
  for (const name of [...t.chains]) {
    const rules = rulesOf(name);
    const alien = rules.filter((r) => !r.includes(comment)).length;
    const jumpedTo = t.jumps.some((j) => j.endsWith(` -j ${name}`)) || t.rules.some((r) => r.includes(comment) && r.endsWith(` -j ${name}`));
    if (alien === 0 && (rules.length > 0 || jumpedTo || known)) continue;
    foreign.push(`${program} chain ${name} in table ${table} (${alien > 0 ? `${alien} rule(s) without the comment "netlab:${lab}"` : 'empty, and no rule of the lab leads to it'})`);
    t.chains = t.chains.filter((c) => c !== name);
    t.rules = t.rules.filter((r) => r.split(' ')[1] !== name);
  }
  return foreign;
}

/**
 * The lab's chains, rules and jumps. A chain with the lab's name is the lab's only when every
 * rule in it carries the lab's comment and it is not empty or a jump of the lab leads to it
 * (netlab writes a chain, its rules and its jumps in one transaction); any other is someone
 * else's, reported in `foreign` and left alone.
 */
export async function observeIptables(lab: string, known = false): Promise<FirewallState & { foreign: string[]; labs: Set<string> }> {
  const state: FirewallState & { foreign: string[] } = { backend: 'iptables', tables: {}, foreign: [] };
  const [saved, saved6] = await iptablesSaveBoth();
  const labs = new Set([...labsInIptables(saved), ...labsInIptables(saved6)]);
  for (const [family, dump] of [
    [4, saved],
    [6, saved6],
  ] as const) {
    for (const table of IPTABLES_TABLES) {
      const text = dump.get(table);
      if (text === undefined && family === 6) continue;
      const t = parseIptablesSave(lab, text ?? '');
      state.foreign.push(...disownForeignChains(lab, table, t, known, family === 6 ? 'ip6tables' : 'iptables'));
      state.tables[tableKey(table, family)] = t;
      if (table === 'filter' && /^:FORWARD DROP /m.test(text ?? '')) state[family === 4 ? 'forwardDrop' : 'forwardDrop6'] = true;
    }
  }
  return { ...state, labs };
}

/** Labs with a rule (their comment) in the nat or filter table of `iptables-save`'s output. */
export function labsInIptables(saved: Map<string, string>): Set<string> {
  const labs = new Set<string>();
  for (const table of ['nat', 'filter']) {
    for (const m of (saved.get(table) ?? '').matchAll(/--comment "?netlab:([a-z0-9_-]{1,16})"?/g)) labs.add(m[1]!);
  }
  return labs;
}

/** Splits the output of `iptables-save` (every table) into each table's own lines. */
export function splitIptablesSave(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let table: string | undefined;
  let lines: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      table = line.slice(1).trim();
      lines = [line];
    } else if (table !== undefined) {
      lines.push(line);
      if (line === 'COMMIT') {
        out.set(table, `${lines.join('\n')}\n`);
        table = undefined;
      }
    }
  }
  return out;
}

/**
 * Every table netlab uses, in one `iptables-save` (one process, not one per table). A table the
 * kernel has not loaded is not in the dump: it has no rules, and `-t TABLE` would only load it
 * to print it empty.
 */
export async function iptablesSaveAll(family: Family = 4): Promise<Map<string, string>> {
  if (family === 4) return splitIptablesSave((await run('iptables-save', [])).stdout);
  // A kernel without IPv6 has no ip6tables: then no lab has rules there.
  const r = await run('ip6tables-save', [], { allowFail: true });
  return splitIptablesSave(r.exitCode === 0 ? r.stdout : '');
}

/** Where the IPv6 dump starts in the output of SAVE_BOTH: a line neither program prints. */
const IPV6_FOLLOWS = '# netlab: ip6tables-save follows';
/**
 * Both dumps from one process, running at once: ip6tables-save writes into the pipe while
 * iptables-save runs, and is read after it. A failing ip6tables-save (a kernel without IPv6)
 * prints nothing, which reads as no rules, as iptablesSaveAll(6) has it.
 */
const SAVE_BOTH = `ip6tables-save 2>/dev/null | { iptables-save || exit $?; echo '${IPV6_FOLLOWS}'; cat; }`;

/**
 * iptablesSaveAll() and iptablesSaveAll(6) from one process: starting a program blocks this
 * process while the kernel copies it (fork), the most a converged `up` spends on the firewall.
 */
export async function iptablesSaveBoth(): Promise<[Map<string, string>, Map<string, string>]> {
  const r = await run('sh', ['-c', SAVE_BOTH], { allowFail: true });
  const at = r.stdout.indexOf(`${IPV6_FOLLOWS}\n`);
  if (r.exitCode !== 0 || at < 0 || (at > 0 && r.stdout[at - 1] !== '\n')) {
    const reason = r.exitCode === 127 ? 'iptables-save is not installed (see "netlab doctor")' : (r.stderr || r.stdout).trim();
    throw new KernelError(`iptables-save: ${reason}`, 'iptables-save');
  }
  return [splitIptablesSave(r.stdout.slice(0, at)), splitIptablesSave(r.stdout.slice(at + IPV6_FOLLOWS.length + 1))];
}

function isBuiltin(chain: string): boolean {
  return ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'].includes(chain);
}

const EMPTY: FirewallTable = { chains: [], jumps: [], rules: [] };

/** The iptables-restore (or for `family` 6, ip6tables-restore) input that turns `have` into `want` (either may be absent). */
export function iptablesRestoreInput(want: FirewallState | undefined, have: FirewallState | undefined, family: Family = 4): string {
  const out: string[] = [];
  for (const table of IPTABLES_TABLES) {
    const w = want?.tables[tableKey(table, family)] ?? EMPTY;
    // An nftables lab has an iptables part too: its bridges in the shared isolation chains.
    const h = have?.tables[tableKey(table, family)] ?? EMPTY;
    if (w.chains.length + h.chains.length + w.jumps.length + h.jumps.length === 0) continue;
    out.push(`*${table}`);
    // Declaring a chain creates it, or flushes it when it exists: only the lab's own chains.
    for (const c of new Set([...w.chains, ...h.chains])) out.push(`:${c} - [0:0]`);
    // A shared chain is created when missing, never declared (that would flush other labs' rules).
    for (const c of w.shared ?? []) if (!(h.shared ?? []).includes(c)) out.push(`-N ${c}`);
    for (const j of h.jumps) out.push(j.replace(/^-A /, '-D '));
    for (const c of h.chains) if (!w.chains.includes(c)) out.push(`-X ${c}`);
    for (const j of w.jumps) out.push(j.replace(/^-A (\S+) /, '-I $1 1 '));
    out.push(...w.rules);
    // A shared chain goes with the last lab that used it (stage 1 jumps to stage 2: that order).
    for (const c of SHARED) {
      if ((h.shared ?? []).includes(c) && !(w.shared ?? []).includes(c) && (h.others?.[c] ?? 0) === 0 && !otherRulesJumpTo(h, c)) out.push(`-X ${c}`);
    }
    out.push('COMMIT');
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

/** Stage 2 must stay while another lab's stage-1 rules still jump to it. */
function otherRulesJumpTo(h: FirewallTable, chain: string): boolean {
  return chain === SHARED_IPTABLES_CHAIN.isolation2 && (h.others?.[SHARED_IPTABLES_CHAIN.isolation1] ?? 0) > 0;
}

/**
 * Moves the lab's rules in the shared isolation chains (and those chains) from what iptables
 * holds of the lab into its nftables state, where an nftables lab keeps them (nft-rules.ts):
 * what is left in `ipt` is what a switch of `firewall:` left behind, to remove.
 */
export function moveIsolation(ipt: FirewallState, nft: FirewallState): [FirewallState, FirewallState] {
  let [rest, withIsolation] = [ipt, nft];
  for (const key of [tableKey('filter', 4), tableKey('filter', 6)]) {
    const filter = ipt.tables[key];
    if (!filter) continue;
    const inShared = (rule: string) => SHARED.includes(rule.split(' ')[1]!);
    const counts = (shared: boolean) => Object.fromEntries(Object.entries(filter.others ?? {}).filter(([c]) => SHARED.includes(c) === shared));
    const isolation: FirewallTable = { chains: [], jumps: filter.jumps.filter(inShared), rules: [], shared: filter.shared ?? [], others: counts(true) };
    // The shared chains are the nftables state's to remove now: not named here, they are never dropped twice.
    const left: FirewallTable = { ...filter, jumps: filter.jumps.filter((j) => !inShared(j)), shared: [], others: counts(false) };
    rest = { ...rest, tables: { ...rest.tables, [key]: left } };
    withIsolation = { ...withIsolation, tables: { ...withIsolation.tables, [key]: isolation } };
  }
  return [rest, withIsolation];
}

export async function applyIptables(want: FirewallState | undefined, have: FirewallState | undefined): Promise<void> {
  // Each rule is one line of iptables-restore input: a line break inside one would be a second command.
  for (const t of Object.values(want?.tables ?? {})) for (const line of [...t.chains, ...t.jumps, ...t.rules]) if (/[\r\n\0]/.test(line)) throw new Error(`refusing rule text ${JSON.stringify(line)}`);
  const [input, input6] = [iptablesRestoreInput(want, have), iptablesRestoreInput(want, have, 6)];
  // One transaction per family, both at once (they touch different tables); both end before a failure is reported.
  const results = await Promise.allSettled([input && run('iptables-restore', ['-w', '--noflush'], { input }), input6 && run('ip6tables-restore', ['-w', '--noflush'], { input: input6 })]);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

/**
 * iptables backend: reads the lab's chains and rules from `iptables-save`, and replaces them
 * in one `iptables-restore --noflush` transaction per table. Declaring a chain in --noflush
 * mode flushes only that chain, so only the lab's own chains are declared; built-in chains and
 * the shared isolation chains are touched only by the lab's own rules, each added with -I and
 * deleted with -D by its exact text, so no other rule on the host ever changes.
 */
import type { FirewallState, FirewallTable } from '../plan/state.js';
import { chainOf, IPTABLES_TABLES, SHARED_IPTABLES_CHAIN } from '../model/iptables-rules.js';
import { mark } from '../model/names.js';
import { run } from './run.js';

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

export async function observeIptables(lab: string): Promise<FirewallState> {
  const state: FirewallState = { backend: 'iptables', tables: {} };
  await Promise.all(
    IPTABLES_TABLES.map(async (table) => {
      const { stdout } = await run('iptables-save', ['-t', table]);
      state.tables[table] = parseIptablesSave(lab, stdout);
      if (table === 'filter' && /^:FORWARD DROP /m.test(stdout)) state.forwardDrop = true;
    }),
  );
  return state;
}

function isBuiltin(chain: string): boolean {
  return ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'].includes(chain);
}

const EMPTY: FirewallTable = { chains: [], jumps: [], rules: [] };

/** The iptables-restore input that turns `have` into `want` (either may be absent). */
export function iptablesRestoreInput(want: FirewallState | undefined, have: FirewallState | undefined): string {
  const out: string[] = [];
  for (const table of IPTABLES_TABLES) {
    const w = want?.tables[table] ?? EMPTY;
    const h = have?.backend === 'iptables' ? (have.tables[table] ?? EMPTY) : EMPTY;
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
  return out.length ? out.join('\n') + '\n' : '';
}

/** Stage 2 must stay while another lab's stage-1 rules still jump to it. */
function otherRulesJumpTo(h: FirewallTable, chain: string): boolean {
  return chain === SHARED_IPTABLES_CHAIN.isolation2 && (h.others?.[SHARED_IPTABLES_CHAIN.isolation1] ?? 0) > 0;
}

export async function applyIptables(want: FirewallState | undefined, have: FirewallState | undefined): Promise<void> {
  const input = iptablesRestoreInput(want, have);
  if (input) await run('iptables-restore', ['-w', '--noflush'], { input });
}

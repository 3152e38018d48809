/**
 * iptables backend: reads the lab's chains and jumps from `iptables-save`, and replaces them
 * in one `iptables-restore --noflush` transaction per table. Declaring a chain in --noflush
 * mode flushes only that chain; built-in chains are touched only by the lab's own jump rules,
 * each deleted by its exact text, so no other rule on the host ever changes.
 */
import type { FirewallState } from '../plan/state.js';
import { chainOf } from '../model/iptables-rules.js';
import { run } from './run.js';

const TABLES = ['nat', 'filter'] as const;
const ROLES = ['dnat', 'post', 'fwd', 'ports'] as const;

export async function observeIptables(lab: string): Promise<FirewallState> {
  const chains = new Set<string>(ROLES.map((r) => chainOf(lab, r)));
  const comment = `--comment "netlab:${lab}"`;
  const state: FirewallState = { backend: 'iptables', tables: {} };
  await Promise.all(
    TABLES.map(async (table) => {
      const { stdout } = await run('iptables-save', ['-t', table]);
      const t = { chains: [] as string[], jumps: [] as string[], rules: [] as string[] };
      for (const line of stdout.split('\n')) {
        if (line.startsWith(':')) {
          const name = line.slice(1).split(' ')[0]!;
          if (chains.has(name)) t.chains.push(name);
        } else if (line.startsWith('-A ')) {
          const chain = line.split(' ')[1]!;
          if (chains.has(chain)) t.rules.push(line);
          else if (line.includes(comment) && isBuiltin(chain)) t.jumps.push(line);
        }
      }
      state.tables[table] = t;
    }),
  );
  return state;
}

function isBuiltin(chain: string): boolean {
  return ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'].includes(chain);
}

/** The iptables-restore input that turns `have` into `want` (either may be absent). */
export function iptablesRestoreInput(want: FirewallState | undefined, have: FirewallState | undefined): string {
  const out: string[] = [];
  for (const table of TABLES) {
    const w = want?.tables[table] ?? { chains: [], jumps: [], rules: [] };
    const h = have?.tables[table] ?? { chains: [], jumps: [], rules: [] };
    if (w.chains.length + h.chains.length + w.jumps.length + h.jumps.length === 0) continue;
    out.push(`*${table}`);
    // Declaring a chain creates it, or flushes it when it exists.
    for (const c of new Set([...w.chains, ...h.chains])) out.push(`:${c} - [0:0]`);
    for (const j of h.jumps) out.push(j.replace(/^-A /, '-D '));
    for (const c of h.chains) if (!w.chains.includes(c)) out.push(`-X ${c}`);
    for (const j of w.jumps) out.push(j.replace(/^-A (\S+) /, '-I $1 1 '));
    out.push(...w.rules);
    out.push('COMMIT');
  }
  return out.length ? out.join('\n') + '\n' : '';
}

export async function applyIptables(want: FirewallState | undefined, have: FirewallState | undefined): Promise<void> {
  const input = iptablesRestoreInput(want, have);
  if (input) await run('iptables-restore', ['-w', '--noflush'], { input });
}

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

/**
 * The lab's chains, rules and jumps. A chain with the lab's name is the lab's only when every
 * rule in it carries the lab's comment and it is not empty or a jump of the lab leads to it
 * (netlab writes a chain, its rules and its jumps in one transaction); any other is someone
 * else's, reported in `foreign` and left alone.
 */
export async function observeIptables(lab: string): Promise<FirewallState & { foreign: string[] }> {
  const names = new Set<string>(ROLES.map((r) => chainOf(lab, r)));
  const comment = `--comment "netlab:${lab}"`;
  const state: FirewallState & { foreign: string[] } = { backend: 'iptables', tables: {}, foreign: [] };
  await Promise.all(
    TABLES.map(async (table) => {
      const { stdout } = await run('iptables-save', ['-t', table]);
      const found = new Map<string, { rules: string[]; alien: number }>();
      const jumps: string[] = [];
      for (const line of stdout.split('\n')) {
        if (line.startsWith(':')) {
          const name = line.slice(1).split(' ')[0]!;
          if (names.has(name)) found.set(name, { rules: [], alien: 0 });
        } else if (line.startsWith('-A ')) {
          const chain = line.split(' ')[1]!;
          const c = found.get(chain);
          if (c) {
            c.rules.push(line);
            if (!line.includes(comment)) c.alien++;
          } else if (line.includes(comment) && isBuiltin(chain)) jumps.push(line);
        }
      }
      const t = { chains: [] as string[], jumps, rules: [] as string[] };
      for (const [name, c] of found) {
        const jumpedTo = jumps.some((j) => j.endsWith(` -j ${name}`)) || [...found.values()].some((o) => o.rules.some((r) => r.includes(comment) && r.endsWith(` -j ${name}`)));
        if (c.alien > 0 || (c.rules.length === 0 && !jumpedTo)) {
          const why = c.alien > 0 ? `${c.alien} rule(s) without the comment "netlab:${lab}"` : 'empty, and no rule of the lab leads to it';
          state.foreign.push(`iptables chain ${name} in table ${table} (${why})`);
          continue;
        }
        t.chains.push(name);
        t.rules.push(...c.rules);
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
  // Each rule is one line of iptables-restore input: a line break inside one would be a second command.
  for (const t of Object.values(want?.tables ?? {})) for (const line of [...t.chains, ...t.jumps, ...t.rules]) if (/[\r\n\0]/.test(line)) throw new Error(`refusing rule text ${JSON.stringify(line)}`);
  const input = iptablesRestoreInput(want, have);
  if (input) await run('iptables-restore', ['-w', '--noflush'], { input });
}

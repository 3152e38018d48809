/**
 * A throwaway "host": a network namespace named test-host-<id> in which netlab runs as if it
 * were the machine (its own bridges, iptables, nft, sysctls), so a test may compare the whole
 * firewall byte for byte or change the FORWARD policy without touching the real host or
 * another engineer's run. Container namespaces stay global `ip netns` objects, as usual.
 */
import { execa } from 'execa';
import { CLI, testHostId } from './kernel.js';

export interface TestHost {
  ns: string;
  /** A program run inside the host namespace; throws when it fails. */
  sh(cmd: string, ...args: string[]): Promise<string>;
  /** The netlab CLI run inside the host namespace. */
  netlab(args: string[], opts?: { cwd?: string; env?: Record<string, string> }): Promise<{ exitCode?: number; all?: string; stdout: string; stderr: string }>;
}

export async function withTestHost<T>(fn: (h: TestHost) => Promise<T>): Promise<T> {
  const ns = `test-host-${testHostId()}`;
  const host: TestHost = {
    ns,
    async sh(cmd, ...args) {
      const r = await execa('ip', ['netns', 'exec', ns, cmd, ...args], { reject: false, all: true });
      if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.all}`);
      return r.stdout;
    },
    async netlab(args, opts = {}) {
      // nsenter, not `ip netns exec`: the latter gives the program a private mount namespace, so the
      // namespaces netlab creates there (bind mounts on /run/netns/*) would vanish with it.
      return execa('nsenter', [`--net=/run/netns/${ns}`, process.execPath, CLI, ...args], {
        reject: false,
        all: true,
        cwd: opts.cwd,
        env: { NETLAB_LOG_LEVEL: 'warn', ...opts.env },
      });
    },
  };
  await execa('ip', ['netns', 'add', ns]);
  try {
    await host.sh('ip', 'link', 'set', 'lo', 'up');
    return await fn(host);
  } finally {
    await execa('ip', ['netns', 'del', ns], { reject: false });
  }
}

/** iptables-save without its dated comments and with every counter zeroed. */
export async function iptablesSave(h: TestHost): Promise<string> {
  const text = await h.sh('iptables-save');
  return text
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, '[0:0]'))
    .join('\n');
}

/** `nft list ruleset` without warnings and counters. */
export async function nftRuleset(h: TestHost): Promise<string> {
  const text = await h.sh('nft', 'list', 'ruleset');
  return text
    .split('\n')
    .filter((l) => !l.startsWith('# Warning'))
    .map((l) => l.replace(/counter packets \d+ bytes \d+/g, 'counter'))
    .join('\n');
}

/** iptables-save text minus the lab's own chains, rules and jumps (all named or commented netlab). */
export function withoutLabIptables(text: string, lab: string): string {
  return text
    .split('\n')
    .filter((l) => !l.startsWith(`:NL-${lab}-`) && !l.startsWith(`-A NL-${lab}-`) && !l.includes(`"netlab:${lab}"`))
    .join('\n');
}

/**
 * nft ruleset text minus what a lab made: its chains (NL-<lab>-*, in the ip tables iptables-nft
 * keeps), jumps into them, netlab's shared isolation chains, and tables netlab owns by name (netlab-<lab>, or netlab's nftables
 * backend table when `ownTables` names it): whatever netlab adds later, the rest must not move.
 */
export function withoutLabNft(text: string, lab: string, ownTables: string[] = []): string {
  const out: string[] = [];
  let skipDepth = 0;
  let depth = 0;
  for (const line of text.split('\n')) {
    const opens = (line.match(/{/g) ?? []).length;
    const closes = (line.match(/}/g) ?? []).length;
    const t = line.trim();
    const startsOwn =
      skipDepth === 0 &&
      (new RegExp(`^chain NL-${lab}-\\S+ \\{`).test(t) ||
        // netlab's isolation stages, shared by every lab, hold one rule per lab bridge.
        /^chain NL-ISOLATION-\d \{/.test(t) ||
        new RegExp(`^table \\S+ (netlab-${lab}|${ownTables.map(escapeRegExp).join('|') || '(?!)'}) \\{`).test(t));
    if (startsOwn) skipDepth = depth + 1;
    depth += opens - closes;
    if (skipDepth > 0) {
      if (depth < skipDepth) skipDepth = 0;
      continue;
    }
    if (t.includes(`jump NL-${lab}-`) || t.includes(`goto NL-${lab}-`) || t.includes('jump NL-ISOLATION-')) continue;
    out.push(line);
  }
  // A removed chain leaves the blank line that separated it from the next one.
  return out.join('\n').replace(/\n\s*\n/g, '\n');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

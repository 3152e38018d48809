/** Sends the one real packet a trace follows, from the source's namespace. */
import { fileURLToPath } from 'node:url';
import { run } from '../kernel/run.js';
import { inNs } from './kernel.js';

export type ProbeOutcome = 'connected' | 'refused' | 'timeout' | 'unreachable' | 'answered' | 'no-answer' | 'busy' | 'error';

export interface ProbeSpec {
  proto: 'tcp' | 'udp' | 'icmp';
  ns: string | undefined;
  daddr: string;
  dport?: number;
  /** Source port (TCP, UDP) or echo identifier (ICMP). */
  key: number;
  timeoutMs: number;
}

const CHILD = fileURLToPath(new URL('./probe-child.js', import.meta.url));

export async function sendProbe(p: ProbeSpec): Promise<{ outcome: ProbeOutcome; code?: string }> {
  if (p.proto === 'icmp') {
    const [f, a] = inNs(p.ns, 'ping', ['-n', '-c1', '-W', String(Math.max(1, Math.round(p.timeoutMs / 1000))), '-e', String(p.key), p.daddr]);
    const r = await run(f, a, { allowFail: true });
    if (r.exitCode === 0) return { outcome: 'answered' };
    return { outcome: /unreachable/i.test(r.stdout + r.stderr) ? 'unreachable' : 'no-answer' };
  }
  const [f, a] = inNs(p.ns, process.execPath, [CHILD, p.proto, p.daddr, String(p.dport), String(p.key), String(p.timeoutMs)]);
  const r = await run(f, a, { allowFail: true });
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { outcome: ProbeOutcome; code?: string };
  } catch {
    return { outcome: 'error', code: (r.stderr || r.stdout).trim().slice(0, 200) };
  }
}

/** A source port (or echo id) for the probe, away from the common ephemeral range's start. */
export function probeKey(): number {
  return 40000 + Math.floor(Math.random() * 20000);
}

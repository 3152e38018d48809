/** Human output: the ps table (80 columns where the words allow; the last column is cut first) and one-line summaries. */
import type { ContainerRow } from '../engine/query.js';
import type { Op } from '../plan/ops.js';
import type { DoctorReport } from '../engine/doctor.js';

export function table(rows: string[][], width = 80): string {
  const cols = rows[0]?.length ?? 0;
  const widths = Array.from({ length: cols }, (_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  // The last column takes what is left of the width, cut if it must be.
  const fixed = widths.slice(0, -1).reduce((a, b) => a + b + 2, 0);
  return rows
    .map((r) =>
      r
        .map((cell, i) => (i === cols - 1 ? cell.slice(0, Math.max(8, width - fixed)) : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function psTable(rows: ContainerRow[]): string {
  // A HOST column only for multi-host labs.
  const hosts = rows.some((r) => r.host);
  const lines: string[][] = [[...(hosts ? ['HOST'] : []), 'NAME', 'STATUS', 'IP', 'PORTS', 'LINKS']];
  for (const r of rows) {
    const n = Math.max(1, r.ports.length);
    for (let i = 0; i < n; i++) {
      const row = i === 0 ? [r.name, r.statusText, r.ip, r.ports[0] ?? '', r.links.join(',')] : ['', '', '', r.ports[i]!, ''];
      lines.push([...(hosts ? [i === 0 ? (r.host ?? '') : ''] : []), ...row]);
    }
  }
  return table(lines);
}

export function opSummary(ops: Op[]): string {
  const counts = new Map<string, number>();
  for (const op of ops) counts.set(op.kind, (counts.get(op.kind) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${n} ${k}`).join(', ');
}

const MARK = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;

export function doctorText(r: DoctorReport): string {
  const lines = r.checks.flatMap((c) => [`${MARK[c.status]}  ${c.message}`, ...(c.fix && c.status !== 'ok' ? [`      fix: ${c.fix}`] : [])]);
  const fails = r.checks.filter((c) => c.status === 'fail').length;
  lines.push('', r.ok ? 'netlab can run here.' : `${fails} problem${fails === 1 ? '' : 's'} to fix before netlab can run here.`);
  return lines.join('\n');
}

/** `1 change`, `2 changes`. */
export const counted = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Human output: the ps table (in the terminal's width, or 80 columns, where the words allow) and one-line summaries. */
import type { ContainerRow } from '../engine/query.js';
import type { Op } from '../plan/ops.js';
import type { DoctorReport } from '../engine/doctor.js';
import type { LabSummary } from '../engine/labs.js';

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

/** A cell cut to `width` with Docker's ellipsis (stringutils.Ellipsis). */
const ellipsis = (cell: string, width: number) => (cell.length <= width ? cell : `${cell.slice(0, Math.max(0, width - 1))}…`);

/**
 * A table in `width` columns: the `cuttable` columns (the widest first, none below 8) give up
 * what the others need, their cells cut with an ellipsis; the rest are never cut. Docker's ps
 * likewise cuts its COMMAND and keeps its STATUS words whole.
 */
export function budgetTable(rows: string[][], width: number, cuttable: number[]): string {
  const cols = rows[0]?.length ?? 0;
  const widths = Array.from({ length: cols }, (_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const total = () => widths.reduce((a, b) => a + b, 0) + 2 * (cols - 1);
  for (let over = total() - width; over > 0; over--) {
    const widest = cuttable.filter((i) => widths[i]! > 8).sort((a, b) => widths[b]! - widths[a]!)[0];
    if (widest === undefined) break;
    widths[widest]!--;
  }
  return rows
    .map((r) =>
      r
        .map((cell, i) => ellipsis(cell, widths[i]!).padEnd(i === cols - 1 ? 0 : widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** docker ps's PORTS, summarised: a container's first ports, one a line, and how many more (`netlab port NAME` lists them all). */
function portLines(r: ContainerRow, all: boolean): string[] {
  if (all || r.ports.length <= 3) return r.ports;
  return [...r.ports.slice(0, 2), `+${r.ports.length - 2} more`];
}

/**
 * ps in `width` columns (a terminal's, 80 otherwise): NAME, STATUS and IP whole, PORTS and LINKS
 * cut where they must be; `noTrunc` (docker ps --no-trunc) cuts and summarises nothing.
 */
export function psTable(rows: ContainerRow[], width = 80, noTrunc = false): string {
  // A HOST column only for multi-host labs.
  const hosts = rows.some((r) => r.host);
  const lines: string[][] = [[...(hosts ? ['HOST'] : []), 'NAME', 'STATUS', 'IP', 'PORTS', 'LINKS']];
  for (const r of rows) {
    const ports = portLines(r, noTrunc);
    for (let i = 0; i < Math.max(1, ports.length); i++) {
      const row = i === 0 ? [r.name, r.statusText, r.ip, ports[0] ?? '', r.links.join(',')] : ['', '', '', ports[i]!, ''];
      lines.push([...(hosts ? [i === 0 ? (r.host ?? '') : ''] : []), ...row]);
    }
  }
  const off = hosts ? 1 : 0;
  return budgetTable(lines, noTrunc ? Infinity : width, [3 + off, 4 + off]);
}

/** netlab ls (docker compose ls): NETWORKS and PORTS cut to fit `width`; the FILE, which a user copies, whole. */
export function lsTable(labs: LabSummary[], width = 80): string {
  const rows = labs.map((l) => [l.name, `running(${l.running}/${l.total})`, l.networks.map((n) => `${n.bridge} ${n.subnet}`).join(', '), l.ports.join(', '), l.file]);
  return budgetTable([['NAME', 'STATUS', 'NETWORKS', 'PORTS', 'FILE'], ...rows], width, [2, 3]);
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

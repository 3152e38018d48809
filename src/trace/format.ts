/** `netlab trace` as text: the probe's way there and back, hook by hook. */
import type { TraceLeg, TraceResult, TraceStep } from './model.js';

export function traceText(r: TraceResult): string {
  const port = r.to.port !== undefined ? `:${r.to.port}` : '';
  const key = r.probe.sourcePort !== undefined ? `source port ${r.probe.sourcePort}` : `echo id ${r.probe.echoId}`;
  const out = [`trace ${r.proto} ${r.from.name} (${r.from.address}) → ${r.to.name} (${r.to.address}${port}), lab ${r.lab}, firewall ${r.firewall}; probe ${key}`, '', ...legText('→', r.forward)];
  if (r.reply) out.push('', ...legText('←', r.reply));
  else out.push('', '← no answer came back');
  out.push('', `end: ${r.end.kind}: ${r.end.detail}`);
  return `${out.join('\n')}\n`;
}

function legText(arrow: string, leg: TraceLeg): string[] {
  if (leg.steps.length === 0) return [`${arrow} ${leg.packet}: not seen in any namespace`];
  return [`${arrow} ${leg.packet}`, ...leg.steps.flatMap(stepText)];
}

function stepText(s: TraceStep): string[] {
  const ifs = [s.in ? `in ${s.in}` : '', s.out ? `out ${s.out}` : ''].filter(Boolean).join(' ');
  const lines = [`  ${s.namespace.padEnd(10)} ${s.hook.padEnd(11)} ${ifs.padEnd(28)} ${s.src} → ${s.dst}${s.tunnel ? `  (VXLAN VNI ${s.tunnel.vni}, on the underlay)` : ''}`];
  for (const r of s.rules) lines.push(`      ${r.table} ${r.chain}: ${r.rule}  [${r.verdict}]`);
  for (const n of s.nat) lines.push(`      ${n.kind}: ${n.before} → ${n.after}`);
  return lines;
}

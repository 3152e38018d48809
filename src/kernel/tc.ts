/**
 * Link impairments in the kernel: tc qdiscs on a container's interfaces, made and read with the
 * `tc` program under both link backends (a tbf needs its rate table computed as tc computes it,
 * which the netlink package does not do), and whether this kernel has netem at all.
 */
import { KernelError } from '../errors.js';
import type { Impairment } from '../model/impair.js';
import { parseQdiscs, tcArgs } from '../model/tc.js';
import type { Op } from '../plan/ops.js';
import { run } from './run.js';

/** Carries out a tc.set: one `tc -batch` in the container's namespace. */
export async function applyTc(op: Extract<Op, { kind: 'tc.set' }>): Promise<void> {
  const lines = tcArgs(op.dev, op.impair, op.have).map((a) => a.join(' '));
  if (lines.length === 0) return;
  const r = await run('tc', ['-n', op.ns, '-batch', '-'], { input: `${lines.join('\n')}\n`, allowFail: true });
  if (r.exitCode !== 0) {
    const why = (r.stderr || r.stdout).trim().split('\n')[0] ?? '';
    throw new KernelError(`tc on ${op.dev} of ${op.ns}: ${why}`, `tc -n ${op.ns} ${lines[0]}`);
  }
}

/** Each interface's impairment in a namespace (an empty one for every interface tc lists without). */
export async function readImpairments(ns: string): Promise<Map<string, Impairment> | undefined> {
  const r = await run('tc', ['-n', ns, 'qdisc', 'show'], { allowFail: true });
  if (r.exitCode !== 0) return undefined;
  const found = parseQdiscs(r.stdout);
  for (const line of r.stdout.split('\n')) {
    const dev = /\sdev (\S+)/.exec(line)?.[1];
    if (dev && !found.has(dev)) found.set(dev, {});
  }
  return found;
}

let netem: Promise<boolean> | undefined;
/** Tries a netem qdisc on a veth in a throwaway network namespace (gone with the process): the only sure test. */
export function kernelHasNetem(): Promise<boolean> {
  netem ??= run('unshare', ['--net', 'sh', '-c', 'ip link add nlprobe0 type veth peer name nlprobe1 && tc qdisc add dev nlprobe0 root netem delay 1ms'], { allowFail: true }).then(
    (r) => r.exitCode === 0,
  );
  return netem;
}

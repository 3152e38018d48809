/**
 * Progress of `up` and `down` on stdout. On a terminal: one line per step with its time, or,
 * for a large lab, one bar of containers done; elsewhere plain lines (every step, or every
 * tenth of the containers for a large lab). Logs stay on stderr.
 */
import { impairmentText } from '../model/impair.js';
import { basename } from 'node:path';
import { isLinkOp, type Op } from '../plan/ops.js';
import { netnsName } from '../model/names.js';
import { ETC_NETNS_DIR } from '../paths.js';

/** Labs with more containers than this get a bar instead of a line per step. */
export const BAR_THRESHOLD = 20;

/** One step in words: what a group of Ops does. */
export function describeStep(ops: Op[]): string {
  const op = ops[0]!;
  const links = ops.filter(isLinkOp);
  if (links.length > 0) {
    const count = (k: string) => ops.filter((o) => o.kind === k).length;
    const parts = [
      [count('netns.add'), 'namespace', 'namespaces'],
      [count('bridge.add'), 'bridge', 'bridges'],
      [count('veth.add'), 'veth pair', 'veth pairs'],
      [count('link.del'), 'link removed', 'links removed'],
      [count('netns.del'), 'namespace removed', 'namespaces removed'],
      [links.length - count('netns.add') - count('bridge.add') - count('veth.add') - count('link.del') - count('netns.del'), 'setting', 'settings'],
    ] as const;
    // The /etc files, UTS namespaces and firewall made beside the links (plan/steps.ts).
    const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
    const rules = ops.reduce((n, o) => n + (o.kind === 'firewall.apply' ? firewallRules(o) : 0), 0);
    const beside = [
      count('file.write') > 0 ? plural(count('file.write'), '/etc file', '/etc files') : '',
      count('uts.add') > 0 ? plural(count('uts.add'), 'hostname', 'hostnames') : '',
      count('firewall.apply') + count('firewall.remove') > 0 ? `the firewall${rules > 0 ? ` (${plural(rules, 'rule', 'rules')})` : ''}` : '',
    ].filter(Boolean);
    const besideText = beside.length > 0 ? `; ${beside.length > 1 ? `${beside.slice(0, -1).join(', ')} and ${beside.at(-1)}` : beside[0]} beside` : '';
    return `links: ${parts
      .filter(([n]) => n > 0)
      .map(([n, one, many]) => plural(n, one, many))
      .join(', ')}${besideText}`;
  }
  if (ops.length > 1) {
    // A step of one kind run side by side (plan/steps.ts): files, UTS namespaces.
    const n = ops.length;
    const words: Partial<Record<Op['kind'], string>> = {
      'file.write': `write ${n} /etc files`,
      'file.del': `remove ${n} files and folders`,
      'uts.add': `${n} hostnames (a UTS namespace each)`,
      'uts.del': `remove ${n} UTS namespaces`,
      'mnt.add': `${n} mount namespaces (private /run, /tmp, the /etc files, volumes)`,
      'mnt.del': `remove ${n} mount namespaces`,
      'process.start': `start ${n} container commands`,
      'process.stop': `stop ${n} container commands together`,
    };
    return words[op.kind] ?? `${n} × ${op.kind}`;
  }
  switch (op.kind) {
    case 'sysctl.set':
      return `sysctl ${op.key}=${op.value}`;
    case 'file.write':
      return `write ${op.path}`;
    case 'file.del':
      return `remove ${op.path}`;
    case 'uts.add':
      return `hostname ${op.hostname} (UTS namespace of ${basename(op.path)})`;
    case 'uts.del':
      return `remove the UTS namespace of ${basename(op.path)}`;
    case 'firewall.apply':
      return `firewall: ${firewallRules(op)} rule${firewallRules(op) === 1 ? '' : 's'} in one ${op.want.backend === 'nftables' ? 'nft' : 'iptables-restore'} transaction`;
    case 'firewall.remove':
      return 'firewall: remove the lab chains and jumps';
    case 'process.start':
      return `start ${op.container}: ${op.spec.argv.slice(-4).join(' ')}`;
    case 'process.stop':
      return `stop ${op.container} (pid ${op.pids.join(' ')})`;
    case 'tc.set':
      return `impair ${op.dev} of ${op.ns}: ${impairmentText(op.impair)} (tc)`;
    default:
      return op.kind;
  }
}

const firewallRules = (op: Extract<Op, { kind: 'firewall.apply' }>) => Object.values(op.want.tables).reduce((n, t) => n + t.rules.length + t.jumps.length, 0);

/** The container namespace an Op belongs to, if any. */
export function namespaceOf(op: Op, lab: string): string | undefined {
  if ('ns' in op && op.ns) return op.ns;
  if (op.kind === 'veth.add') return op.peer.ns;
  if ((op.kind === 'file.write' || op.kind === 'file.del') && op.path.startsWith(`${ETC_NETNS_DIR}/`)) return op.path.split('/')[3];
  if (op.kind === 'uts.add' || op.kind === 'uts.del') return netnsName(lab, basename(op.path));
  return undefined;
}

export interface ProgressSink {
  write(text: string): void;
  isTTY: boolean;
}

export class Progress {
  private current?: { ops: Op[]; started: number };
  private remaining = new Map<string, number>();
  private total = 0;
  private lastTenth = 0;
  private lab = '';

  constructor(private readonly out: ProgressSink) {}

  plan(ops: Op[], lab: string): void {
    this.lab = lab;
    for (const op of ops) {
      const ns = namespaceOf(op, lab);
      if (ns) this.remaining.set(ns, (this.remaining.get(ns) ?? 0) + 1);
    }
    this.total = this.remaining.size;
  }

  private get bar(): boolean {
    return this.total > BAR_THRESHOLD;
  }

  step(ops: Op[]): void {
    this.finishStep();
    this.current = { ops, started: performance.now() };
    if (this.bar && this.out.isTTY) this.drawBar(describeStep(ops));
  }

  finish(): void {
    this.finishStep();
    if (this.bar && this.out.isTTY) this.out.write('\n');
  }

  private finishStep(): void {
    const c = this.current;
    if (!c) return;
    this.current = undefined;
    for (const op of c.ops) {
      const ns = namespaceOf(op, this.lab);
      if (ns) this.remaining.set(ns, this.remaining.get(ns)! - 1);
    }
    const ms = Math.round(performance.now() - c.started);
    if (!this.bar) {
      this.out.write(`${this.out.isTTY ? '✓ ' : ''}${describeStep(c.ops)} (${ms} ms)\n`);
      return;
    }
    if (this.out.isTTY) {
      this.drawBar(describeStep(c.ops));
      return;
    }
    const tenth = Math.floor((10 * this.containersDone()) / this.total);
    if (tenth > this.lastTenth) {
      this.lastTenth = tenth;
      this.out.write(`containers: ${this.containersDone()}/${this.total} done\n`);
    }
  }

  containersDone(): number {
    return [...this.remaining.values()].filter((n) => n === 0).length;
  }

  private drawBar(text: string): void {
    const width = 24;
    const full = Math.round((width * this.containersDone()) / Math.max(1, this.total));
    const line = `[${'#'.repeat(full)}${'-'.repeat(width - full)}] ${this.containersDone()}/${this.total} containers  ${text}`;
    this.out.write(`\r${line.slice(0, 79).padEnd(79)}`);
  }
}

/** What every command module shares: the common options, the lab a command acts on, plan and progress printing. */
import { type Command, Option } from './commander.js';
import { log, type LogFormat } from '../log.js';
import type { SimulateResult } from '../engine/simulate.js';
import type { Op } from '../plan/ops.js';

// Each command loads only what it uses: a converged `up` must not pay for the graph renderer,
// the doctor or the web server.
export const engineUp = () => import('../engine/up.js');
export const engineDown = () => import('../engine/down.js');
export const engineSimulate = () => import('../engine/simulate.js');
export const engineQuery = () => import('../engine/query.js');
export const cliFormat = () => import('./format.js');
const planRender = () => import('../plan/render.js');
/** The Ops in the order of the steps apply runs (plan/steps.ts): a dry run prints what up would do, in its order. */
const inStepOrder = async (ops: Op[]) => {
  const { planSteps, stepOps } = await import('../plan/steps.js');
  return stepOps(planSteps(ops));
};

/** A terminal's columns (ps fits them), 80 when the output is no terminal. */
export const terminalWidth = () => (process.stdout.isTTY && process.stdout.columns) || 80;

export interface GlobalOpts {
  file?: string;
  lab?: string;
  logLevel: string;
  logFormat: LogFormat;
}

export type CommandOpts = GlobalOpts & Record<string, unknown>;

/** The options every command takes, before or after its name. */
export function withCommonOptions(cmd: Command): Command {
  return cmd
    .option('-f, --file <file>', 'topology file (default: ./netlab.yaml, or the built-in demo lab when there is none)')
    .option('-l, --lab <name>', 'act on the lab of this name instead of the one the topology file names')
    .addOption(new Option('--log-level <level>', 'log detail on stderr').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']))
    .addOption(new Option('--log-format <format>', 'log format on stderr').choices(['pretty', 'json']));
}

const backendOption = () =>
  new Option('--backend <backend>', 'how to talk to the kernel: netlink (in-process rtnetlink, the default) or iproute2 (the ip program); default $NETLAB_BACKEND').choices(['netlink', 'iproute2']);

/** The options of the commands that change the host (up, down): the kernel backend, quiet, JSON. */
export function withChangeOptions(cmd: Command): Command {
  return cmd.addOption(backendOption()).option('-q, --quiet', 'no progress lines').option('--json', 'print the result as JSON');
}

/** A command's options merged with the program's. */
export const globals = (cmd: Command) => cmd.optsWithGlobals() as CommandOpts;

/** The lab a command acts on: --lab, or the one the topology file names. */
export const labOf = async (o: GlobalOpts) => (await engineDown()).labNameOf({ lab: o.lab, file: o.file });

/**
 * Ctrl-C during a change: the step in hand finishes, the state file is written, and the run
 * says what state the lab is in. A second Ctrl-C stops at once (`up` or `down` repairs either way).
 */
export function interruptible(): AbortSignal {
  const controller = new AbortController();
  process.on('SIGINT', () => {
    if (controller.signal.aborted) process.exit(130);
    console.error('netlab: interrupted: finishing the step in hand (Ctrl-C again to stop at once)');
    controller.abort();
  });
  return controller.signal;
}

/** The commands a dry run would run, one a line. */
export async function printPlan(ops: Op[]): Promise<void> {
  const { renderOp } = await planRender();
  if (ops.length === 0) console.log('# nothing to change');
  for (const op of await inStepOrder(ops)) console.log(renderOp(op));
}

/** Progress on stdout, unless the output is JSON or quiet. */
export async function progressFor(o: Record<string, unknown>) {
  const { opSummary } = await cliFormat();
  const { Progress } = await import('./progress.js');
  const p = o.json || o.quiet ? undefined : new Progress({ write: (t) => process.stdout.write(t), isTTY: !!process.stdout.isTTY });
  return {
    onPlan: (ops: Op[], lab: string) => p?.plan(ops, lab),
    onStep: (ops: Op[]) => {
      log().info({ step: opSummary(ops) }, 'applying');
      p?.step(ops);
    },
    finish: () => p?.finish(),
  };
}

/** Ops as JSON: each kind with the command it stands for. */
export const opsJson = async (ops: Op[]) => {
  const { renderOp } = await planRender();
  return (await inStepOrder(ops)).map((op) => ({ kind: op.kind, command: renderOp(op) }));
};

/**
 * What `up`/`down --simulate` print before their last line: the JSON document (then true), or
 * the plan and each simulated host's own output (none with -q, as for a single host).
 */
export async function printSimulated(o: CommandOpts, r: SimulateResult, sep: string, more: () => Promise<Record<string, unknown>> = async () => ({})): Promise<boolean> {
  if (o.json) {
    console.log(JSON.stringify({ lab: r.lab, dryRun: !!o.dryRun, ms: Math.round(r.ms), ops: await opsJson(r.ops), hosts: r.hosts, ...(await more()) }, null, 2));
    return true;
  }
  if (o.dryRun) await printPlan(r.ops);
  if (o.dryRun || !o.quiet) for (const h of r.hosts) console.log(`${o.dryRun ? '# ' : ''}host ${h.host}:${sep}${h.output.trimEnd()}`);
  return false;
}

#!/usr/bin/env node
/** The netlab command line: builds the program from the command modules, runs it, maps errors to exit codes. */
import { existsSync, readFileSync } from 'node:fs';
import { Command, CommanderError } from './commander.js';
import { EXIT_BAD_INPUT, EXIT_FAILED, NetlabError } from '../errors.js';
import { configureLogging, log } from '../log.js';
import { RUN_DIR } from '../paths.js';
import { engineDown, engineUp, type GlobalOpts, withCommonOptions } from './common.js';
import { dnsCommand, execCommand, impairCommand, inspectCommand, lifecycleCommands, logsCommand, portCommand, psCommand, shellCommand } from './commands/containers.js';
import { downCommand, lsCommand, statusCommand, upCommand } from './commands/lab.js';
import { doctorCommand, explainCommand, graphCommand, uiCommand } from './commands/look.js';
import { serveCommand } from './commands/serve.js';
import { captureCommand, statsCommand, traceCommand } from './commands/trace.js';

// A reader that goes away (`netlab up | head -1`) must not stop a change half-way: what is left to print is dropped.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
});

/** The order here is the order of `netlab --help`. */
const COMMANDS = [
  upCommand,
  downCommand,
  psCommand,
  statusCommand,
  inspectCommand,
  impairCommand,
  dnsCommand,
  execCommand,
  lifecycleCommands,
  shellCommand,
  lsCommand,
  portCommand,
  logsCommand,
  explainCommand,
  graphCommand,
  uiCommand,
  doctorCommand,
  traceCommand,
  statsCommand,
  captureCommand,
  serveCommand,
];

function buildProgram(): Command {
  const program = new Command();
  withCommonOptions(program)
    .name('netlab')
    .description("Docker's classic container networking, built from bare Linux parts you can see: namespaces, veth pairs, a bridge, iptables NAT.")
    .version((JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version, '-V, --version', "print netlab's version")
    .enablePositionalOptions()
    .showHelpAfterError()
    .exitOverride()
    .hook('preAction', (_program, action) => {
      const o = action.optsWithGlobals() as Partial<GlobalOpts>;
      configureLogging(o.logLevel ?? 'warn', o.logFormat ?? 'pretty');
      // The engine's modules load beside the sweep (their files are read while it works); a failure surfaces where they are used.
      ENGINES[action.name()]?.().catch(() => undefined);
      // Not from a container's server or a simulated machine's netlab: another namespace than the trace's.
      if (action.name() !== 'serve' && process.env.NETLAB_SIMULATED_HOST !== '1') return sweepTraces(MARK_SWEEPERS.has(action.name()));
    });
  for (const add of COMMANDS) add(program);
  return program;
}

const ENGINES: Record<string, () => Promise<unknown>> = { up: engineUp, down: engineDown };

/** The commands that also look for a killed trace's leftovers by their kernel marks (one netfilter dump of the table names). */
const MARK_SWEEPERS = new Set(['up', 'down', 'trace']);

/** What a trace killed by SIGKILL left (its record in /run/netlab/.traces, or its marks): removed by the next run. */
async function sweepTraces(byMark: boolean): Promise<void> {
  const failed = (e: Error) => log().warn({ err: e.message }, 'could not remove what a killed trace left');
  if (existsSync(`${RUN_DIR}/.traces`)) await (await import('../trace/kernel.js')).sweepStaleTraces().catch(failed);
  if (byMark) await (await import('../trace/sweep.js')).sweepByMark().catch(failed);
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : EXIT_BAD_INPUT;
    } else if (e instanceof NetlabError) {
      console.error(`netlab: ${e.message}`);
      process.exitCode = e.exitCode;
    } else {
      console.error(`netlab: unexpected error (a bug, please report it): ${(e as Error).stack ?? e}`);
      process.exitCode = EXIT_FAILED;
    }
  }
}

await main();

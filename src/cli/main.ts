#!/usr/bin/env node
/** The netlab command line: parses arguments, calls the engine, prints. Nothing else. */
import { existsSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { Command, CommanderError, Option } from 'commander';
import { EXIT_BAD_INPUT, EXIT_FAILED, InputError, NetlabError } from '../errors.js';
import { configureLogging, log, type LogFormat } from '../log.js';
import type { SimulateResult } from '../engine/simulate.js';
import type { ExplainSection } from '../plan/explain.js';
import type { Op } from '../plan/ops.js';
import type { BackendName } from '../kernel/backend.js';
import { RUN_DIR, simulateFile } from '../paths.js';

// Each command loads only what it uses: a converged `up` must not pay for the graph renderer,
// the doctor or the web server (module loading is a good part of a short run's wall time).
// A reader that goes away (`netlab up | head -1`) must not stop a change half-way: what is left to print is dropped.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
});

const engineUp = () => import('../engine/up.js');
const engineDown = () => import('../engine/down.js');
const engineSimulate = () => import('../engine/simulate.js');
/** A terminal's columns (ps fits them), 80 when the output is no terminal. */
const terminalWidth = () => (process.stdout.isTTY && process.stdout.columns) || 80;
const engineQuery = () => import('../engine/query.js');
const cliFormat = () => import('./format.js');
const planRender = () => import('../plan/render.js');

interface GlobalOpts {
  file?: string;
  lab?: string;
  logLevel: string;
  logFormat: LogFormat;
}

/** The options every command takes, before or after its name. */
function withCommonOptions(cmd: Command): Command {
  return cmd
    .option('-f, --file <file>', 'topology file (default: ./netlab.yaml, or the built-in demo lab when there is none)')
    .option('-l, --lab <name>', 'act on the lab of this name instead of the one the topology file names')
    .addOption(new Option('--log-level <level>', 'log detail on stderr').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']))
    .addOption(new Option('--log-format <format>', 'log format on stderr').choices(['pretty', 'json']));
}

/** The options of the commands that change the host (up, down): the kernel backend, quiet, JSON. */
function withChangeOptions(cmd: Command): Command {
  return cmd.addOption(backendOption()).option('-q, --quiet', 'no progress lines').option('--json', 'print the result as JSON');
}

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
    // Not from a container's server or a simulated machine's netlab: another namespace than the trace's.
    if (action.name() !== 'serve' && process.env.NETLAB_SIMULATED_HOST !== '1') return sweepTraces(MARK_SWEEPERS.has(action.name()));
  });

/** The commands that also look for a killed trace's leftovers by their kernel marks (one `nft list tables`). */
const MARK_SWEEPERS = new Set(['up', 'down', 'trace']);

/** What a trace killed by SIGKILL left (its record in /run/netlab/.traces, or its marks): removed by the next run. */
async function sweepTraces(byMark: boolean): Promise<void> {
  const failed = (e: Error) => log().warn({ err: e.message }, 'could not remove what a killed trace left');
  if (existsSync(`${RUN_DIR}/.traces`)) await (await import('../trace/kernel.js')).sweepStaleTraces().catch(failed);
  if (byMark) await (await import('../trace/sweep.js')).sweepByMark().catch(failed);
}

const globals = (cmd: Command) => cmd.optsWithGlobals() as GlobalOpts & Record<string, unknown>;
const labOf = async (o: GlobalOpts) => (await engineDown()).labNameOf({ lab: o.lab, file: o.file });

/**
 * Ctrl-C during a change: the step in hand finishes, the state file is written, and the run
 * says what state the lab is in. A second Ctrl-C stops at once (`up` or `down` repairs either way).
 */
function interruptible(): AbortSignal {
  const controller = new AbortController();
  process.on('SIGINT', () => {
    if (controller.signal.aborted) process.exit(130);
    console.error('netlab: interrupted: finishing the step in hand (Ctrl-C again to stop at once)');
    controller.abort();
  });
  return controller.signal;
}

async function printPlan(ops: Op[]): Promise<void> {
  const { renderOp } = await planRender();
  if (ops.length === 0) console.log('# nothing to change');
  for (const op of ops) console.log(renderOp(op));
}

const backendOption = () =>
  new Option('--backend <backend>', 'how to talk to the kernel: netlink (in-process rtnetlink, the default) or iproute2 (the ip program); default $NETLAB_BACKEND').choices(['netlink', 'iproute2']);

/** Progress on stdout, unless the output is JSON or quiet. */
async function progressFor(o: Record<string, unknown>) {
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

const opsJson = async (ops: Op[]) => {
  const { renderOp } = await planRender();
  return ops.map((op) => ({ kind: op.kind, command: renderOp(op) }));
};

/**
 * What `up`/`down --simulate` print before their last line: the JSON document (then true), or
 * the plan and each simulated host's own output (none with -q, as for a single host).
 */
async function printSimulated(o: ReturnType<typeof globals>, r: SimulateResult, sep: string, more: () => Promise<Record<string, unknown>> = async () => ({})): Promise<boolean> {
  if (o.json) {
    console.log(JSON.stringify({ lab: r.lab, dryRun: !!o.dryRun, ms: Math.round(r.ms), ops: await opsJson(r.ops), hosts: r.hosts, ...(await more()) }, null, 2));
    return true;
  }
  if (o.dryRun) await printPlan(r.ops);
  if (o.dryRun || !o.quiet) for (const h of r.hosts) console.log(`${o.dryRun ? '# ' : ''}host ${h.host}:${sep}${h.output.trimEnd()}`);
  return false;
}

withChangeOptions(withCommonOptions(program.command('up')))
  .description('bring the lab up, or change it in place to match the file; a second run changes nothing')
  .option('--dry-run', 'print the commands that would change the host, and change nothing')
  .option('--host <name>', "build this host's share of a multi-host lab (default: the host whose underlay address this machine has)")
  .option('--simulate', 'build every host of a multi-host lab here, each as a network namespace joined by an underlay bridge')
  .option('--wait', 'return when every command runs and listens on its published TCP ports (docker compose up --wait); exit 1 naming those that do not')
  .option('--wait-timeout <seconds>', 'how long --wait waits', '60')
  .option('--force', 'replace a running lab of the same name that was built from another file')
  .action(async (_o, cmd: Command) => {
    const o = globals(cmd);
    // A simulated host's own netlab uses the same backend.
    if (o.backend) process.env.NETLAB_BACKEND = o.backend as string;
    const { psTable, opSummary, counted } = await cliFormat();
    const { ps } = await engineQuery();
    if (o.simulate) {
      const { simulateUp } = await engineSimulate();
      const r = await simulateUp({ file: o.file, name: o.lab, dryRun: !!o.dryRun, force: !!o.force, onStep: (ops) => log().info({ step: opSummary(ops) }, 'applying') });
      if (await printSimulated(o, r, '\n', async () => ({ containers: o.dryRun ? [] : await ps(r.lab) }))) return;
      if (!o.dryRun) {
        console.log(`lab ${r.lab} is up on ${r.hosts.length} simulated hosts (${Math.round(r.ms)} ms)`);
        console.log(psTable(await ps(r.lab), terminalWidth()));
      }
      return;
    }
    const signal = interruptible();
    const progress = await progressFor(o);
    const { up } = await engineUp();
    const result = await up({
      file: o.file,
      name: o.lab,
      host: o.host as string | undefined,
      dryRun: !!o.dryRun,
      force: !!o.force,
      signal,
      backend: o.backend as BackendName | undefined,
      onPlan: progress.onPlan,
      onStep: progress.onStep,
    });
    progress.finish();
    if (o.json) {
      const containers = o.dryRun ? [] : await ps(result.lab.name);
      return console.log(JSON.stringify({ lab: result.lab.name, dryRun: !!o.dryRun, changes: result.ops.length, ms: Math.round(result.ms), ops: await opsJson(result.ops), containers }, null, 2));
    }
    if (o.dryRun) return printPlan(result.ops);
    const { subnetsText } = await import('../model/lab6.js');
    const nets = result.lab.networks.map((n) => `${n.bridge} ${subnetsText(n)}`).join(', ');
    const ms = Math.round(result.ms);
    console.log(
      result.ops.length === 0
        ? `lab ${result.lab.name} is up to date: nothing to change (${ms} ms)`
        : `lab ${result.lab.name} is up: ${counted(result.lab.containers.length, 'container')} on ${nets}; ${counted(result.ops.length, 'change')} in ${ms} ms`,
    );
    if (result.resolver && result.resolver.action !== 'none') console.log(`DNS resolver (127.0.0.11): ${result.resolver.action}${result.resolver.pid ? `, pid ${result.resolver.pid}` : ''}`);
    if (result.proxy && result.proxy.action !== 'none') console.log(`IPv6 loopback proxy ([::1]): ${result.proxy.action}${result.proxy.pid ? `, pid ${result.proxy.pid}` : ''}`);
    // A single-host lab has one share: the state this run left, not read back from its file.
    const { shareRows } = await engineQuery();
    if (result.state) await reportReadiness(result, o);
    console.log(psTable(result.state && result.lab.hosts.length === 0 ? await shareRows(result.state) : await ps(result.lab.name), terminalWidth()));
  });

/**
 * After `up`: the commands it started are given a moment to listen on their published ports
 * (so that `netlab up && curl localhost:8080` works in a script), and one that exited is
 * reported with its log's last lines; with --wait, every command, and exit 1 unless all are ready.
 */
async function reportReadiness(result: Awaited<ReturnType<Awaited<ReturnType<typeof engineUp>>['up']>>, o: Record<string, unknown>): Promise<void> {
  const strict = !!o.wait;
  const timeout = Number(o.waitTimeout ?? 60);
  if (strict && !(timeout > 0)) throw new InputError([{ path: '--wait-timeout', message: `"${o.waitTimeout}" is not a number of seconds` }]);
  const started = result.ops.flatMap((op) => (op.kind === 'process.start' ? [op.container] : []));
  const names = strict ? result.lab.containers.filter((c) => c.command !== undefined).map((c) => c.name) : started;
  if (names.length === 0) return;
  const { waitReady } = await import('../engine/wait.js');
  const left = await waitReady(result.state!, names, (strict ? timeout : 10) * 1000);
  for (const l of left) {
    const failed = strict || (l.exited && l.exitCode !== 0);
    const head = `${failed ? 'netlab: ' : 'note: '}container ${l.name}: ${l.reason}${strict && !l.exited ? ` after ${timeout} s` : ''}`;
    console.error([head, ...l.logTail.map((t) => `  | ${t}`)].join('\n'));
    if (failed) process.exitCode = 1;
  }
}

withChangeOptions(withCommonOptions(program.command('down')))
  .description("remove every kernel object of the lab (found by netlab's marks, even without a state file)")
  .option('--dry-run', 'print the commands that would run, and change nothing')
  .option('--host <name>', "remove this host's share of a multi-host lab")
  .option('--simulate', 'remove the simulated hosts too (the default when the lab was simulated here)')
  .option('--all', 'remove every lab on this host, found by their marks in the kernel')
  .option('--force', 'take down the lab the file names even when it was built from another file')
  .action(async (_o, cmd: Command) => {
    const o = globals(cmd);
    if (o.backend) process.env.NETLAB_BACKEND = o.backend as string;
    const signal = interruptible();
    if (o.all && (o.lab || o.file)) throw new InputError([{ path: '--all', message: 'takes no --lab or --file: it removes every lab' }]);
    // A host's own share (named, or this run is a simulated host) is never the whole simulation.
    const ownShare = o.host !== undefined || process.env.NETLAB_SIMULATED_HOST === '1';
    const lab = o.all ? undefined : await labOf(o);
    const { down, downAll } = await engineDown();
    // The simulation's module (execa, the topology parser) is loaded only for a simulated lab.
    if (lab !== undefined && !ownShare && (o.simulate || existsSync(simulateFile(lab)))) {
      const { simulateDown } = await engineSimulate();
      const r = await simulateDown(lab, { dryRun: !!o.dryRun });
      if (await printSimulated(o, r, ' ')) return;
      if (!o.dryRun) console.log(`lab ${lab} is down: ${r.hosts.length} simulated hosts removed (${Math.round(r.ms)} ms)`);
      return;
    }
    const backend = o.backend as BackendName | undefined;
    const progress = await progressFor(o);
    const { counted } = await cliFormat();
    const results = o.all
      ? await downAll({ dryRun: !!o.dryRun, signal, onPlan: progress.onPlan, onStep: progress.onStep, backend })
      : [await down({ file: o.file, lab: o.lab, host: o.host as string | undefined, dryRun: !!o.dryRun, force: !!o.force, signal, onPlan: progress.onPlan, onStep: progress.onStep, backend })];
    progress.finish();
    if (o.json) {
      const docs = await Promise.all(results.map(async (r) => ({ lab: r.lab, dryRun: !!o.dryRun, changes: r.ops.length, ms: Math.round(r.ms), ops: await opsJson(r.ops), foreign: r.foreign })));
      return console.log(JSON.stringify(o.all ? docs : docs[0], null, 2));
    }
    if (o.all && results.length === 0) console.log('no lab is up on this host');
    for (const result of results) {
      for (const f of result.foreign) console.error(`netlab: left alone (not made by lab ${result.lab}): ${f}`);
      if (o.dryRun) {
        if (o.all) console.log(`# lab ${result.lab}`);
        await printPlan(result.ops);
        continue;
      }
      const ms = Math.round(result.ms);
      console.log(result.ops.length === 0 ? `lab ${result.lab}: nothing was up (${ms} ms)` : `lab ${result.lab} is down: ${counted(result.ops.length, 'change')} in ${ms} ms`);
    }
  });

withCommonOptions(program.command('ps'))
  .description("list the lab's containers: status, addresses, ports, links")
  .option('--json', 'print JSON')
  .option('-a, --all', 'accepted as docker ps -a: netlab lists stopped containers too, always')
  .option('--no-trunc', 'cut no column and list every port (docker ps --no-trunc)')
  .action(async (_o, cmd: Command) => {
    const o = globals(cmd);
    const { ps } = await engineQuery();
    const { psTable } = await cliFormat();
    const rows = await ps(await labOf(o));
    console.log(
      o.json
        ? JSON.stringify(
            rows.map(({ portObjects, ...r }) => ({ ...r, ports: portObjects })),
            null,
            2,
          )
        : psTable(rows, terminalWidth(), o.trunc === false),
    );
  });

withCommonOptions(program.command('status'))
  .description("compare the lab's kernel objects with what its last up built: drift (a firewall reload, a deleted link) and each container's state")
  .option('--json', 'print JSON')
  .action(async (_o, cmd: Command) => {
    const o = globals(cmd);
    const { status } = await import('../engine/status.js');
    const { namingSource } = await import('../engine/labsource.js');
    const { table, counted } = await cliFormat();
    const s = await status(await labOf(o), { source: await namingSource({ file: o.file, lab: o.lab }) });
    // Like `up`, which would refuse with exit code 2: a script learns the same from either.
    if (s.refusal) process.exitCode = EXIT_BAD_INPUT;
    if (o.json) return console.log(JSON.stringify({ ...s, ops: undefined }, null, 2));
    const verdict = s.refusal
      ? `"netlab up" would refuse: ${s.refusal}`
      : s.inSync
        ? 'in sync with its topology'
        : `drifted: "netlab up" would make ${counted(s.ops.length + (s.resolver?.status === 'missing' ? 1 : 0) + (s.proxy?.status === 'missing' ? 1 : 0), 'change')} (${s.changes.join(', ')})`;
    console.log(`lab ${s.lab} (firewall: ${s.firewall}): ${verdict}`);
    if (s.resolver) console.log(`  DNS resolver (127.0.0.11): ${s.resolver.status === 'running' ? `running, pid ${s.resolver.pid}` : 'missing'}`);
    if (s.proxy) console.log(`  IPv6 loopback proxy ([::1]): ${s.proxy.status === 'running' ? `running, pid ${s.proxy.pid}` : 'missing'}`);
    for (const r of s.firewallDrift.missing) console.log(`  missing rule: ${r}`);
    for (const r of s.firewallDrift.extra) console.log(`  unexpected rule: ${r}`);
    console.log(
      table([['CONTAINER', 'STATUS', 'PID', 'RESTARTS'], ...s.containers.map((c) => [c.name, c.statusText, c.pid ? String(c.pid) : '', c.restarts === undefined ? '' : String(c.restarts)])]),
    );
    // Like `git diff --exit-code`: scripts can tell drift from sync.
    if (!s.inSync && !s.refusal) process.exitCode = 3;
  });

withCommonOptions(program.command('inspect'))
  .description("show a container's configuration and NetworkSettings, like docker inspect")
  .argument('<name>', 'container')
  .option('--json', 'print only the JSON document')
  .action(async (name: string, _o, cmd: Command) => {
    const o = globals(cmd);
    const { inspect } = await engineQuery();
    const doc = await inspect(await labOf(o), name);
    console.log(JSON.stringify([doc], null, o.json ? 2 : 2));
  });

withCommonOptions(program.command('impair'))
  .description("show or change a container's link impairment live (tc netem/tbf on its interfaces), kept until --reset or down (docs/impair.md)")
  .argument('<name>', 'container')
  .option('--network <network>', 'only its interface on this network (default: all of them)')
  .option('--delay <time>', 'e.g. 20ms')
  .option('--jitter <time>', 'e.g. 5ms (needs --delay)')
  .option('--loss <percent>', 'e.g. 1%')
  .option('--rate <rate>', 'e.g. 10mbit')
  .option('--clear', 'no impairment')
  .option('--reset', "back to the topology file's")
  .option('--json', 'print JSON')
  .action(async (name: string, _o, cmd: Command) => (await import('./impair.js')).impairAction(await labOf(globals(cmd)), name, cmd.opts()));

withCommonOptions(program.command('dns'))
  .description("list the names a container's embedded DNS (127.0.0.11) answers, and where the rest go")
  .argument('<name>', 'container')
  .option('--json', 'print JSON')
  .action(async (name: string, _o, cmd: Command) => {
    const o = globals(cmd);
    const { dnsOf } = await import('../dns/query.js');
    const { table } = await cliFormat();
    const t = await dnsOf(await labOf(o), name);
    if (o.json) return console.log(JSON.stringify(t, null, 2));
    console.log(table([['NAME', 'TYPE', 'ANSWER', 'FROM'], ...t.records.map((r) => [r.name, r.type, r.data.join(' '), r.from])]));
    console.log(`other names: forwarded to ${t.upstreams.length ? t.upstreams.join(', ') : 'no server (SERVFAIL)'}; names of the lab's other networks: NXDOMAIN`);
  });

withCommonOptions(program.command('exec'))
  .description('run a command inside a container (its network, hostname, /etc/hosts and link variables)')
  .argument('<name>', 'container')
  .argument('<command...>', 'the command and its arguments (put them after --)')
  .option('-u, --user <user>', 'run as this user of the host (name, uid, name:group), like docker exec -u')
  .option('-w, --workdir <dir>', 'working folder inside the container')
  .option('-e, --env <VAR=value>', 'set an environment variable (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option('-i, --interactive', "keep stdin open (accepted as docker's; netlab always passes its stdin)")
  .option('-t, --tty', "the command runs on netlab's own terminal, with TERM set")
  .passThroughOptions()
  .action(async (name: string, command: string[], eo: { user?: string; workdir?: string; env: string[]; tty?: boolean }, cmd: Command) => {
    const o = globals(cmd);
    // With pass-through options commander keeps the `--` that ends netlab's own options.
    const argv = command[0] === '--' ? command.slice(1) : command;
    if (argv.length === 0) throw new InputError([{ path: 'exec', message: 'give the command to run after "--"' }]);
    const { execIn } = await import('../engine/exec.js');
    const r = await execIn(await labOf(o), name, argv, { user: eo.user, workdir: eo.workdir, env: eo.env, tty: eo.tty });
    process.exitCode = r.exitCode;
  });

for (const [verb, what] of [
  ['stop', 'stop the command of containers (SIGTERM, then SIGKILL after --time), as docker stop; the network stays'],
  ['start', 'start the command of stopped containers again, as docker start'],
  ['restart', 'stop, then start the command of containers, as docker restart'],
] as const) {
  const c = withCommonOptions(program.command(verb)).description(what).argument('<names...>', 'containers');
  if (verb !== 'start') c.option('-t, --time <seconds>', 'seconds to wait for the command to exit before killing it', '10');
  c.action(async (names: string[], lo: { time?: string }, cmd: Command) => {
    const o = globals(cmd);
    const time = Number(lo.time ?? '10');
    if (!Number.isInteger(time) || time < 0) throw new InputError([{ path: '--time', message: `"${lo.time}" is not a whole number of seconds` }]);
    const life = await import('../engine/lifecycle.js');
    const lab = await labOf(o);
    if (verb === 'stop') await life.stopContainers(lab, names, time);
    else if (verb === 'start') await life.startContainers(lab, names);
    else await life.restartContainers(lab, names, time);
    for (const n of names) console.log(n);
  });
}

withCommonOptions(program.command('shell'))
  .description('an interactive shell inside a container')
  .argument('<name>', 'container')
  .action(async (name: string, _o, cmd: Command) => {
    const o = globals(cmd);
    const sh = process.env.SHELL && !process.env.SHELL.endsWith('nologin') ? process.env.SHELL : '/bin/sh';
    const { execIn } = await import('../engine/exec.js');
    const r = await execIn(await labOf(o), name, [sh, '-i']);
    process.exitCode = r.exitCode;
  });

program
  .command('ls')
  .description('list the labs of this host: file, containers running/total, networks, published ports (docker compose ls)')
  .option('--json', 'print JSON')
  .action(async (lo: { json?: boolean }) => {
    const { listLabs } = await import('../engine/labs.js');
    const { lsTable } = await cliFormat();
    const labs = await listLabs();
    if (lo.json) return console.log(JSON.stringify(labs, null, 2));
    console.log(lsTable(labs, process.stdout.isTTY ? terminalWidth() : 160));
  });

withCommonOptions(program.command('port'))
  .description("list a container's published ports, or where one of its ports is published (docker port)")
  .argument('<name>', 'container')
  .argument('[port]', 'a container port, as 80 or 80/tcp')
  .action(async (name: string, port: string | undefined, _o, cmd: Command) => {
    const { portLines } = await engineQuery();
    const lines = await portLines(await labOf(globals(cmd)), name, port);
    if (port !== undefined && lines.length === 0) throw new NetlabError(`no public port '${port.includes('/') ? port : `${port}/tcp`}' published for ${name}`);
    if (lines.length > 0) console.log(lines.join('\n'));
  });

withCommonOptions(program.command('logs'))
  .description("print the output of a container's command (docker logs)")
  .argument('<name>', 'container')
  .option('--follow', 'keep printing what the command writes, until Ctrl-C (docker logs -f: here -f is --file)')
  .option('-n, --tail <lines>', 'only the last lines ("all": every line)', 'all')
  .option('-t, --timestamps', "each line with the time it came, in Docker's RFC3339Nano (UTC)")
  .option('--since <time>', 'only lines from then on: 10m, 1h30m (ago), 2026-12-02T10:00:00 (local time), 2026-12-02T10:00:00Z, unix seconds')
  .option('--until <time>', 'only lines until then, in the forms of --since')
  .action(async (name: string, lo: { follow?: boolean; tail: string; timestamps?: boolean; since?: string; until?: string }, cmd: Command) => {
    if (lo.tail !== 'all' && !/^\d+$/.test(lo.tail)) throw new InputError([{ path: '--tail', message: `"${lo.tail}" is not a number of lines or "all"` }]);
    const { parseLogTime } = await import('../model/logtime.js');
    const now = Date.now();
    const time = (flag: string, v: string | undefined) => {
      const us = v === undefined ? undefined : parseLogTime(v, now);
      if (v !== undefined && us === undefined)
        throw new InputError([{ path: flag, message: `"${v}" is not a time or a duration (10m, 1h30m, 2026-12-02T10:00:00, 2026-12-02T10:00:00Z, unix seconds)` }]);
      return us;
    };
    const selection = {
      tail: lo.tail === 'all' ? undefined : Number(lo.tail),
      sinceUs: time('--since', lo.since),
      untilUs: time('--until', lo.until),
      timestamps: !!lo.timestamps,
      follow: !!lo.follow,
    };
    const { printLogs } = await import('../engine/logs.js');
    await printLogs(await labOf(globals(cmd)), name, selection, (b) => process.stdout.write(b));
  });

withCommonOptions(program.command('explain'))
  .description('print the exact commands that build the lab from nothing, step by step, each with what it is in Docker (no root needed)')
  .option('--host <name>', 'a multi-host lab: only this host\'s share, as "netlab up --host NAME" runs it on that host (default: every host, one part each)')
  .option('--simulate', 'a multi-host lab: also make the hosts as namespaces joined by an underlay bridge, as "netlab up --simulate" does, so the script runs on this one machine')
  .option('--json', 'print the steps as JSON')
  .action(async (_o, cmd: Command) => {
    const o = globals(cmd);
    const { explain } = await import('../engine/view.js');
    const { renderExplain, renderMultiHostExplain } = await import('../plan/explain.js');
    const r = await explain({ file: o.file, name: o.lab, host: o.host as string | undefined, simulate: !!o.simulate });
    const json = (sections: ExplainSection[]) => sections.map((s) => ({ subject: s.subject, title: s.title, why: s.why, commands: s.commands }));
    if (r.shares.length === 0) {
      if (o.json) return console.log(JSON.stringify({ lab: r.lab.name, source: r.lab.source, sections: json(r.sections) }, null, 2));
      process.stdout.write(renderExplain(r.lab, r.sections));
      return;
    }
    if (o.json) {
      const hosts = r.shares.map((s) => ({ host: s.host.name, underlay: s.host.underlay, ...(s.machine ? { machine: json(s.machine) } : {}), sections: json(s.sections) }));
      return console.log(JSON.stringify({ lab: r.lab.name, source: r.lab.source, ...(r.simulated ? { simulated: json(r.simulated.sections) } : {}), hosts }, null, 2));
    }
    process.stdout.write(renderMultiHostExplain(r.lab, r.shares, { named: o.host !== undefined, simulated: r.simulated }));
  });

withCommonOptions(program.command('graph'))
  .description('draw the lab: bridges, containers, interfaces and addresses, veth pairs, published ports, links (live addresses when it is up)')
  .addOption(new Option('--format <format>', 'output format').choices(['svg', 'dot', 'mermaid', 'json']).default('svg'))
  .option('-o, --output <file>', 'write to this file instead of stdout')
  .action(async (_o, cmd: Command) => {
    const o = globals(cmd) as unknown as GlobalOpts & { format: string; output?: string };
    const { graphFormat } = await import('./graphformat.js');
    o.format = graphFormat(o.format, cmd.getOptionValueSource('format') === 'cli', o.output);
    const { viewLab } = await import('../engine/view.js');
    const { labGraph } = await import('../graph/model.js');
    const { toDot } = await import('../graph/dot.js');
    const { toMermaid } = await import('../graph/mermaid.js');
    const { writeFile } = await import('node:fs/promises');
    const view = await viewLab({ file: o.file, name: o.lab, live: true });
    const g = labGraph(view.lab, { live: view.live });
    const dot = toDot(g);
    const text = o.format === 'dot' ? dot : o.format === 'mermaid' ? toMermaid(g) : o.format === 'json' ? `${JSON.stringify(g, null, 2)}\n` : await (await import('../graph/svg.js')).dotToSvg(dot);
    if (!o.output) return void process.stdout.write(text);
    try {
      await writeFile(o.output, text);
    } catch (e) {
      throw new InputError([{ path: '-o/--output', message: `cannot write ${o.output}: ${(e as Error).message.replace(/^[A-Z]+: /, '')}` }]);
    }
  });

withCommonOptions(program.command('ui'))
  .description('the lab as a live picture in the browser: counters every second, click a part for its commands, run a trace and watch it (serves on 127.0.0.1)')
  .option('--all', 'every lab up on this host')
  .option('--port <port>', 'TCP port to serve on (0: any free one)', '7878')
  .option('--address <addr>', 'address to serve on: loopback only (see --listen)', '127.0.0.1')
  .option('--listen <addr>', 'serve on this address even if it is not loopback (anyone reaching it sees the lab)')
  .option('--open', 'open the page in a browser (xdg-open)')
  .action(async (_o, cmd: Command) => {
    const o = globals(cmd) as unknown as GlobalOpts & { all?: boolean; port: string; address: string; listen?: string; open?: boolean };
    const port = Number(o.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InputError([{ path: '--port', message: `"${o.port}" is not a port (0-65535)` }]);
    const { startUi } = await import('../ui/server.js');
    const { server, url } = await startUi({ file: o.file, lab: o.lab, all: !!o.all, port, address: o.listen ?? o.address, listen: o.listen !== undefined });
    console.log(`netlab ui: ${url} (Ctrl-C stops it)`);
    if (o.open) spawnDetached('xdg-open', [url]);
    await new Promise<void>((resolve) => {
      const stop = () => {
        server.closeAllConnections();
        server.close(() => resolve());
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    console.log('netlab ui: stopped');
  });

withCommonOptions(program.command('doctor'))
  .description('check what netlab needs on this host (root, kernel features, programs, sysctls, Docker or firewalld, subnets) and how to fix each miss')
  .option('--json', 'print the checks as JSON')
  .action(async (_o, cmd: Command) => {
    const o = globals(cmd);
    const { doctor } = await import('../engine/doctor.js');
    const { doctorText } = await cliFormat();
    const report = await doctor({ file: o.file, name: o.lab });
    console.log(o.json ? JSON.stringify(report, null, 2) : doctorText(report));
    process.exitCode = report.ok ? 0 : EXIT_FAILED;
  });

withCommonOptions(program.command('trace'))
  .description('send one real packet from SRC to DST (a container, host, or outside) and show its way: interfaces, the firewall rules that matched, NAT, and how it ended')
  .argument('<src>', 'a container, "host", or "outside" (a throwaway machine on the host\'s LAN)')
  .argument('<dst>', 'NAME[:PORT], NAME as for SRC')
  .option('--udp', 'a UDP datagram instead of a TCP SYN')
  .option('--icmp', 'an echo request instead of a TCP SYN')
  .option('--json', 'print the trace as JSON (see docs/trace.md)')
  .action(async (src: string, dst: string, _o, cmd: Command) => {
    const o = globals(cmd);
    if (o.udp && o.icmp) throw new InputError([{ path: '--udp/--icmp', message: 'give one of them, not both' }]);
    const { trace } = await import('../trace/trace.js');
    const r = await trace({ lab: await labOf(o), from: src, to: dst, proto: o.icmp ? 'icmp' : o.udp ? 'udp' : 'tcp' });
    if (o.json) return console.log(JSON.stringify(r, null, 2));
    process.stdout.write((await import('../trace/format.js')).traceText(r));
  });

withCommonOptions(program.command('stats'))
  .description("the kernel's counters: per container interface rx/tx packets, bytes, drops; per published port its DNAT rule's hits; per link its ACCEPT rule's hits")
  .argument('[name]', 'only this container')
  .option('--json', 'print JSON')
  .option('--watch', 'refresh every 2 s until Ctrl-C, like docker stats')
  .action(async (name: string | undefined, _o, cmd: Command) => {
    const o = globals(cmd);
    const { labStats, statsText } = await import('../trace/stats.js');
    const lab = await labOf(o);
    for (;;) {
      const s = await labStats(lab, name);
      const text = o.json ? `${JSON.stringify(s, null, 2)}\n` : statsText(s);
      process.stdout.write(o.watch && process.stdout.isTTY ? `\x1b[H\x1b[2J${text}` : text);
      if (!o.watch) return;
      await new Promise((r) => setTimeout(r, 2000));
    }
  });

withCommonOptions(program.command('capture'))
  .description("tcpdump on a container's interface, addresses shown as container names; -w writes a pcap (Wireshark opens it)")
  .argument('<target>', 'NAME or NAME:IFACE (default eth0)')
  .argument('[filter...]', "a tcpdump filter, e.g. 'tcp port 80'")
  .option('-c, --count <n>', 'stop after this many packets')
  .option('-w, --write <file>', 'write the packets to this pcap file instead of printing them')
  .option('--host-side', "capture on the host's end of the veth (in the host's namespace) instead of inside the container")
  .action(async (target: string, filter: string[], _o, cmd: Command) => {
    const o = globals(cmd);
    const count = o.count === undefined ? undefined : Number(o.count);
    if (count !== undefined && !(Number.isInteger(count) && count > 0)) throw new InputError([{ path: '--count', message: `"${o.count}" is not a positive whole number` }]);
    const { capture } = await import('../trace/capture.js');
    process.exitCode = await capture({ lab: await labOf(o), target, count, write: o.write as string | undefined, hostSide: !!o.hostSide, filter }, (l) => console.log(l));
  });

program
  .command('serve')
  .description("netlab's built-in web server (what the demo lab's web container runs)")
  .option('-p, --port <port>', 'port to listen on', '80')
  .option('--bind <address>', 'address to listen on (:: for both IPv4 and IPv6)', '0.0.0.0')
  .action(async (o: { port: string; bind: string }) => {
    const { serve } = await import('../serve.js');
    await serve(Number(o.port), o.bind);
  });

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
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

/** Starts a program and lets it go (a browser opened for the user). */
function spawnDetached(cmd: string, args: string[]): void {
  const child = spawn(cmd, args, { detached: true, stdio: 'ignore' });
  child.on('error', () => log().warn(`could not run ${cmd}: open the address yourself`));
  child.unref();
}

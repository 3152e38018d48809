/** The commands that act on a whole lab: up, down, status, ls. */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { EXIT_BAD_INPUT, InputError } from '../../errors.js';
import { log } from '../../log.js';
import type { BackendName } from '../../kernel/backend.js';
import { simulateFile } from '../../paths.js';
import {
  type CommandOpts,
  cliFormat,
  engineDown,
  engineQuery,
  engineSimulate,
  engineUp,
  globals,
  interruptible,
  labOf,
  opsJson,
  printPlan,
  printSimulated,
  progressFor,
  terminalWidth,
  withChangeOptions,
  withCommonOptions,
} from '../common.js';

type UpResult = Awaited<ReturnType<Awaited<ReturnType<typeof engineUp>>['up']>>;
type DownResult = Awaited<ReturnType<Awaited<ReturnType<typeof engineDown>>['down']>>;

export function upCommand(program: Command): void {
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
      if (o.simulate) return upSimulated(o);
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
      await printUp(o, result);
    });
}

/** `up --simulate`: every host of the lab built here, each a namespace. */
async function upSimulated(o: CommandOpts): Promise<void> {
  const { psTable, opSummary } = await cliFormat();
  const { ps } = await engineQuery();
  const { simulateUp } = await engineSimulate();
  const r = await simulateUp({ file: o.file, name: o.lab, dryRun: !!o.dryRun, force: !!o.force, onStep: (ops) => log().info({ step: opSummary(ops) }, 'applying') });
  if (await printSimulated(o, r, '\n', async () => ({ containers: o.dryRun ? [] : await ps(r.lab) }))) return;
  if (o.dryRun) return;
  console.log(`lab ${r.lab} is up on ${r.hosts.length} simulated hosts (${Math.round(r.ms)} ms)`);
  console.log(psTable(await ps(r.lab), terminalWidth()));
}

/** What `up` prints: JSON, the dry run's commands, or a summary line and the containers' table. */
async function printUp(o: CommandOpts, result: UpResult): Promise<void> {
  const { psTable, counted } = await cliFormat();
  const { ps, shareRows } = await engineQuery();
  if (o.json) {
    const containers = o.dryRun ? [] : await ps(result.lab.name);
    return console.log(JSON.stringify({ lab: result.lab.name, dryRun: !!o.dryRun, changes: result.ops.length, ms: Math.round(result.ms), ops: await opsJson(result.ops), containers }, null, 2));
  }
  if (o.dryRun) return printPlan(result.ops);
  const { subnetsText } = await import('../../model/lab6.js');
  const nets = result.lab.networks.map((n) => `${n.bridge} ${subnetsText(n)}`).join(', ');
  const ms = Math.round(result.ms);
  console.log(
    result.ops.length === 0
      ? `lab ${result.lab.name} is up to date: nothing to change (${ms} ms)`
      : `lab ${result.lab.name} is up: ${counted(result.lab.containers.length, 'container')} on ${nets}; ${counted(result.ops.length, 'change')} in ${ms} ms`,
  );
  if (result.resolver && result.resolver.action !== 'none') console.log(`DNS resolver (127.0.0.11): ${result.resolver.action}${result.resolver.pid ? `, pid ${result.resolver.pid}` : ''}`);
  if (result.proxy && result.proxy.action !== 'none') console.log(`IPv6 loopback proxy ([::1]): ${result.proxy.action}${result.proxy.pid ? `, pid ${result.proxy.pid}` : ''}`);
  if (result.state) await reportReadiness(result, o);
  // A single-host lab has one share: the state this run left, not read back from its file.
  console.log(psTable(result.state && result.lab.hosts.length === 0 ? await shareRows(result.state) : await ps(result.lab.name), terminalWidth()));
}

/**
 * After `up`: the commands it started are given a moment to listen on their published ports
 * (so that `netlab up && curl localhost:8080` works in a script), and one that exited is
 * reported with its log's last lines; with --wait, every command, and exit 1 unless all are ready.
 */
async function reportReadiness(result: UpResult, o: Record<string, unknown>): Promise<void> {
  const strict = !!o.wait;
  const timeout = Number(o.waitTimeout ?? 60);
  if (strict && !(timeout > 0)) throw new InputError([{ path: '--wait-timeout', message: `"${o.waitTimeout}" is not a number of seconds` }]);
  const started = result.ops.flatMap((op) => (op.kind === 'process.start' ? [op.container] : []));
  const names = strict ? result.lab.containers.filter((c) => c.command !== undefined).map((c) => c.name) : started;
  if (names.length === 0) return;
  const { waitReady } = await import('../../engine/wait.js');
  const left = await waitReady(result.state!, names, (strict ? timeout : 10) * 1000);
  for (const l of left) {
    const failed = strict || (l.exited && l.exitCode !== 0);
    const head = `${failed ? 'netlab: ' : 'note: '}container ${l.name}: ${l.reason}${strict && !l.exited ? ` after ${timeout} s` : ''}`;
    console.error([head, ...l.logTail.map((t) => `  | ${t}`)].join('\n'));
    if (failed) process.exitCode = 1;
  }
}

export function downCommand(program: Command): void {
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
      // The simulation's module (execa, the topology parser) is loaded only for a simulated lab.
      if (lab !== undefined && !ownShare && (o.simulate || existsSync(simulateFile(lab)))) return downSimulated(o, lab);
      const backend = o.backend as BackendName | undefined;
      const progress = await progressFor(o);
      const { down, downAll } = await engineDown();
      const results = o.all
        ? await downAll({ dryRun: !!o.dryRun, signal, onPlan: progress.onPlan, onStep: progress.onStep, backend })
        : [await down({ file: o.file, lab: o.lab, host: o.host as string | undefined, dryRun: !!o.dryRun, force: !!o.force, signal, onPlan: progress.onPlan, onStep: progress.onStep, backend })];
      progress.finish();
      await printDown(o, results);
    });
}

/** `down` of a simulated lab: its hosts' shares, then the hosts themselves. */
async function downSimulated(o: CommandOpts, lab: string): Promise<void> {
  const { simulateDown } = await engineSimulate();
  const r = await simulateDown(lab, { dryRun: !!o.dryRun });
  if (await printSimulated(o, r, ' ')) return;
  if (!o.dryRun) console.log(`lab ${lab} is down: ${r.hosts.length} simulated hosts removed (${Math.round(r.ms)} ms)`);
}

/** What `down` prints: JSON, the dry run's commands, or a line per lab; what it left alone on stderr. */
async function printDown(o: CommandOpts, results: DownResult[]): Promise<void> {
  const { counted } = await cliFormat();
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
}

export function statusCommand(program: Command): void {
  withCommonOptions(program.command('status'))
    .description("compare the lab's kernel objects with what its last up built: drift (a firewall reload, a deleted link) and each container's state")
    .option('--json', 'print JSON')
    .action(async (_o, cmd: Command) => {
      const o = globals(cmd);
      const { status } = await import('../../engine/status.js');
      const { namingSource } = await import('../../engine/labsource.js');
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
}

export function lsCommand(program: Command): void {
  program
    .command('ls')
    .description('list the labs of this host: file, containers running/total, networks, published ports (docker compose ls)')
    .option('--json', 'print JSON')
    .action(async (lo: { json?: boolean }) => {
      const { listLabs } = await import('../../engine/labs.js');
      const { lsTable } = await cliFormat();
      const labs = await listLabs();
      if (lo.json) return console.log(JSON.stringify(labs, null, 2));
      console.log(lsTable(labs, process.stdout.isTTY ? terminalWidth() : 160));
    });
}

/** The commands that act on a lab's containers: ps, inspect, impair, dns, exec, stop/start/restart, shell, port, logs. */
import type { Command } from 'commander';
import { InputError, NetlabError } from '../../errors.js';
import { cliFormat, engineQuery, globals, labOf, terminalWidth, withCommonOptions } from '../common.js';

export function psCommand(program: Command): void {
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
      // JSON gives the ports as Docker's API does: one object per binding.
      const json = () =>
        JSON.stringify(
          rows.map(({ portObjects, ...r }) => ({ ...r, ports: portObjects })),
          null,
          2,
        );
      console.log(o.json ? json() : psTable(rows, terminalWidth(), o.trunc === false));
    });
}

export function inspectCommand(program: Command): void {
  withCommonOptions(program.command('inspect'))
    .description("show a container's configuration and NetworkSettings, like docker inspect")
    .argument('<name>', 'container')
    .option('--json', 'print only the JSON document')
    .action(async (name: string, _o, cmd: Command) => {
      const { inspect } = await engineQuery();
      const doc = await inspect(await labOf(globals(cmd)), name);
      console.log(JSON.stringify([doc], null, 2));
    });
}

export function impairCommand(program: Command): void {
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
    .action(async (name: string, _o, cmd: Command) => (await import('../impair.js')).impairAction(await labOf(globals(cmd)), name, cmd.opts()));
}

export function dnsCommand(program: Command): void {
  withCommonOptions(program.command('dns'))
    .description("list the names a container's embedded DNS (127.0.0.11) answers, and where the rest go")
    .argument('<name>', 'container')
    .option('--json', 'print JSON')
    .action(async (name: string, _o, cmd: Command) => {
      const o = globals(cmd);
      const { dnsOf } = await import('../../dns/query.js');
      const { table } = await cliFormat();
      const t = await dnsOf(await labOf(o), name);
      if (o.json) return console.log(JSON.stringify(t, null, 2));
      console.log(table([['NAME', 'TYPE', 'ANSWER', 'FROM'], ...t.records.map((r) => [r.name, r.type, r.data.join(' '), r.from])]));
      console.log(`other names: forwarded to ${t.upstreams.length ? t.upstreams.join(', ') : 'no server (SERVFAIL)'}; names of the lab's other networks: NXDOMAIN`);
    });
}

export function execCommand(program: Command): void {
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
      const { execIn } = await import('../../engine/exec.js');
      const r = await execIn(await labOf(o), name, argv, { user: eo.user, workdir: eo.workdir, env: eo.env, tty: eo.tty });
      process.exitCode = r.exitCode;
    });
}

/** stop, start and restart: the command of containers, as docker's verbs of the same names. */
export function lifecycleCommands(program: Command): void {
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
      const life = await import('../../engine/lifecycle.js');
      const lab = await labOf(o);
      if (verb === 'stop') await life.stopContainers(lab, names, time);
      else if (verb === 'start') await life.startContainers(lab, names);
      else await life.restartContainers(lab, names, time);
      for (const n of names) console.log(n);
    });
  }
}

export function shellCommand(program: Command): void {
  withCommonOptions(program.command('shell'))
    .description('an interactive shell inside a container')
    .argument('<name>', 'container')
    .action(async (name: string, _o, cmd: Command) => {
      const o = globals(cmd);
      const sh = process.env.SHELL && !process.env.SHELL.endsWith('nologin') ? process.env.SHELL : '/bin/sh';
      const { execIn } = await import('../../engine/exec.js');
      const r = await execIn(await labOf(o), name, [sh, '-i']);
      process.exitCode = r.exitCode;
    });
}

export function portCommand(program: Command): void {
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
}

export function logsCommand(program: Command): void {
  withCommonOptions(program.command('logs'))
    .description("print the output of a container's command (docker logs)")
    .argument('<name>', 'container')
    .option('--follow', 'keep printing what the command writes, until Ctrl-C (docker logs -f: here -f is --file)')
    .option('-n, --tail <lines>', 'only the last lines ("all": every line)', 'all')
    .option('-t, --timestamps', "each line with the time it came, in Docker's RFC3339Nano (UTC)")
    .option('--since <time>', 'only lines from then on: 10m, 1h30m (ago), 2026-12-02T10:00:00 (local time), 2026-12-02T10:00:00Z, unix seconds')
    .option('--until <time>', 'only lines until then, in the forms of --since')
    .action(async (name: string, lo: LogsOptions, cmd: Command) => {
      const { printLogs } = await import('../../engine/logs.js');
      await printLogs(await labOf(globals(cmd)), name, await logSelection(lo), (b) => process.stdout.write(b));
    });
}

interface LogsOptions {
  follow?: boolean;
  tail: string;
  timestamps?: boolean;
  since?: string;
  until?: string;
}

/** The lines `logs` prints, from its flags; a flag that is not a count or a time is an error naming it. */
async function logSelection(lo: LogsOptions) {
  if (lo.tail !== 'all' && !/^\d+$/.test(lo.tail)) throw new InputError([{ path: '--tail', message: `"${lo.tail}" is not a number of lines or "all"` }]);
  const { parseLogTime } = await import('../../model/logtime.js');
  const now = Date.now();
  const time = (flag: string, v: string | undefined) => {
    const us = v === undefined ? undefined : parseLogTime(v, now);
    if (v !== undefined && us === undefined)
      throw new InputError([{ path: flag, message: `"${v}" is not a time or a duration (10m, 1h30m, 2026-12-02T10:00:00, 2026-12-02T10:00:00Z, unix seconds)` }]);
    return us;
  };
  return {
    tail: lo.tail === 'all' ? undefined : Number(lo.tail),
    sinceUs: time('--since', lo.since),
    untilUs: time('--until', lo.until),
    timestamps: !!lo.timestamps,
    follow: !!lo.follow,
  };
}

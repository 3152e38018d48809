/** The commands that show a lab without changing it: explain, graph, ui, doctor. */
import { spawn } from 'node:child_process';
import { type Command, Option } from '../commander.js';
import { EXIT_FAILED, InputError } from '../../errors.js';
import { log } from '../../log.js';
import type { ExplainSection } from '../../plan/explain.js';
import { type GlobalOpts, cliFormat, globals, withCommonOptions } from '../common.js';

export function explainCommand(program: Command): void {
  withCommonOptions(program.command('explain'))
    .description('print the exact commands that build the lab from nothing, step by step, each with what it is in Docker (no root needed)')
    .option('--host <name>', 'a multi-host lab: only this host\'s share, as "netlab up --host NAME" runs it on that host (default: every host, one part each)')
    .option('--simulate', 'a multi-host lab: also make the hosts as namespaces joined by an underlay bridge, as "netlab up --simulate" does, so the script runs on this one machine')
    .option('--json', 'print the steps as JSON')
    .action(async (_o, cmd: Command) => {
      const o = globals(cmd);
      const { explain } = await import('../../engine/view.js');
      const { renderExplain, renderMultiHostExplain } = await import('../../plan/explain.js');
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
}

export function graphCommand(program: Command): void {
  withCommonOptions(program.command('graph'))
    .description('draw the lab: bridges, containers, interfaces and addresses, veth pairs, published ports, links (live addresses when it is up)')
    .addOption(new Option('--format <format>', 'output format').choices(['svg', 'dot', 'mermaid', 'json']).default('svg'))
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .action(async (_o, cmd: Command) => {
      const o = globals(cmd) as unknown as GlobalOpts & { format: string; output?: string };
      const { graphFormat } = await import('../graphformat.js');
      o.format = graphFormat(o.format, cmd.getOptionValueSource('format') === 'cli', o.output);
      const text = await graphText(o);
      if (!o.output) return void process.stdout.write(text);
      const { writeFile } = await import('node:fs/promises');
      try {
        await writeFile(o.output, text);
      } catch (e) {
        throw new InputError([{ path: '-o/--output', message: `cannot write ${o.output}: ${(e as Error).message.replace(/^[A-Z]+: /, '')}` }]);
      }
    });
}

/** The lab's drawing in the format asked for (live addresses when it is up). */
async function graphText(o: GlobalOpts & { format: string }): Promise<string> {
  const { viewLab } = await import('../../engine/view.js');
  const { labGraph } = await import('../../graph/model.js');
  const { toDot } = await import('../../graph/dot.js');
  const { toMermaid } = await import('../../graph/mermaid.js');
  const view = await viewLab({ file: o.file, name: o.lab, live: true });
  const g = labGraph(view.lab, { live: view.live });
  const dot = toDot(g);
  if (o.format === 'dot') return dot;
  if (o.format === 'mermaid') return toMermaid(g);
  if (o.format === 'json') return `${JSON.stringify(g, null, 2)}\n`;
  return (await import('../../graph/svg.js')).dotToSvg(dot);
}

export function uiCommand(program: Command): void {
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
      const { startUi } = await import('../../ui/server.js');
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
}

/** Starts a program and lets it go (a browser opened for the user). */
function spawnDetached(cmd: string, args: string[]): void {
  const child = spawn(cmd, args, { detached: true, stdio: 'ignore' });
  child.on('error', () => log().warn(`could not run ${cmd}: open the address yourself`));
  child.unref();
}

export function doctorCommand(program: Command): void {
  withCommonOptions(program.command('doctor'))
    .description('check what netlab needs on this host (root, kernel features, programs, sysctls, Docker or firewalld, subnets) and how to fix each miss')
    .option('--json', 'print the checks as JSON')
    .action(async (_o, cmd: Command) => {
      const o = globals(cmd);
      const { doctor } = await import('../../engine/doctor.js');
      const { doctorText } = await cliFormat();
      const report = await doctor({ file: o.file, name: o.lab });
      console.log(o.json ? JSON.stringify(report, null, 2) : doctorText(report));
      process.exitCode = report.ok ? 0 : EXIT_FAILED;
    });
}

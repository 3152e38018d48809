/** The commands that watch packets and counters: trace, stats, capture. */
import type { Command } from 'commander';
import { InputError } from '../../errors.js';
import { globals, labOf, withCommonOptions } from '../common.js';

export function traceCommand(program: Command): void {
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
      const { trace } = await import('../../trace/trace.js');
      const r = await trace({ lab: await labOf(o), from: src, to: dst, proto: o.icmp ? 'icmp' : o.udp ? 'udp' : 'tcp' });
      if (o.json) return console.log(JSON.stringify(r, null, 2));
      process.stdout.write((await import('../../trace/format.js')).traceText(r));
    });
}

export function statsCommand(program: Command): void {
  withCommonOptions(program.command('stats'))
    .description("the kernel's counters: per container interface rx/tx packets, bytes, drops; per published port its DNAT rule's hits; per link its ACCEPT rule's hits")
    .argument('[name]', 'only this container')
    .option('--json', 'print JSON')
    .option('--watch', 'refresh every 2 s until Ctrl-C, like docker stats')
    .action(async (name: string | undefined, _o, cmd: Command) => {
      const o = globals(cmd);
      const { labStats, statsText } = await import('../../trace/stats.js');
      const lab = await labOf(o);
      for (;;) {
        const s = await labStats(lab, name);
        const text = o.json ? `${JSON.stringify(s, null, 2)}\n` : statsText(s);
        process.stdout.write(o.watch && process.stdout.isTTY ? `\x1b[H\x1b[2J${text}` : text);
        if (!o.watch) return;
        await new Promise((r) => setTimeout(r, 2000));
      }
    });
}

export function captureCommand(program: Command): void {
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
      const { capture } = await import('../../trace/capture.js');
      process.exitCode = await capture({ lab: await labOf(o), target, count, write: o.write as string | undefined, hostSide: !!o.hostSide, filter }, (l) => console.log(l));
    });
}

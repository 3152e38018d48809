/** Renders an Op as the shell command that does the same thing: what `explain` and `--dry-run` print. */
import { ipArgs } from '../kernel/iproute2.js';
import { firewallInputs } from '../kernel/firewall.js';
import { conntrackArgs } from '../kernel/conntrack.js';
import { containerArgv, markEnv, SPEC_MARK } from '../kernel/processes.js';
import { isLinkOp, isOvsOp, type Op } from './ops.js';
import { ovsCommands } from '../kernel/ovs.js';

/** Quotes a word for a POSIX shell only when it needs it. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

const heredoc = (cmd: string, body: string) => `${cmd} <<'EOF'\n${body.endsWith('\n') ? body : body + '\n'}EOF`;

export function renderOp(op: Op): string {
  if (op.kind === 'netns.add' && op.mark !== undefined) {
    // What the iproute2 executor does in one step (the namespace marked before it is named), as two commands.
    return [renderOp({ kind: 'netns.add', ns: op.ns }), renderOp({ kind: 'link.set', ns: op.ns, name: 'lo', alias: op.mark })].join('\n');
  }
  if (isLinkOp(op)) {
    const { ns, args, program } = ipArgs(op);
    return [program ?? 'ip', ...(ns ? ['-n', ns] : []), ...args].map(shellQuote).join(' ');
  }
  if (isOvsOp(op)) {
    return ovsCommands(op)
      .map((argv) => argv.map(shellQuote).join(' '))
      .join('\n');
  }
  switch (op.kind) {
    case 'sysctl.set':
      return `${op.key.startsWith('net.bridge.') ? 'modprobe br_netfilter && ' : ''}sysctl -w ${op.key}=${op.value}`;
    case 'file.write':
      return `mkdir -p ${shellQuote(op.path.slice(0, op.path.lastIndexOf('/')))} && ${heredoc(`cat > ${shellQuote(op.path)}`, op.content)}`;
    case 'file.del':
      return `${op.dir ? 'rmdir' : 'rm -f'} ${shellQuote(op.path)}`;
    case 'uts.add':
      return `mkdir -p ${shellQuote(op.path.slice(0, op.path.lastIndexOf('/')))} && touch ${shellQuote(op.path)} && { nsenter --uts=${shellQuote(op.path)} hostname ${shellQuote(op.hostname)} 2>/dev/null || unshare --uts=${shellQuote(op.path)} hostname ${shellQuote(op.hostname)}; }`;
    case 'uts.del':
      return `umount ${shellQuote(op.path)} && rm -f ${shellQuote(op.path)}`;
    case 'firewall.apply':
    case 'firewall.remove':
      return firewallInputs(op.kind === 'firewall.apply' ? op.want : undefined, op.have)
        .map((p) => heredoc(p.command, p.input))
        .join('\n');
    case 'conntrack.flush':
      if (op.portEnd === undefined) return ['conntrack', ...conntrackArgs(op.proto, op.port)].join(' ') + ' || true';
      // conntrack -D takes one port: a range is each of its ports that has a flow.
      return `for p in $(conntrack -L -p ${op.proto} 2>/dev/null | sed -n 's/^[^=]*dst=[^ ]* sport=[0-9]* dport=\\([0-9]*\\).*/\\1/p' | sort -un); do [ "$p" -ge ${op.port} ] && [ "$p" -le ${op.portEnd} ] && conntrack ${conntrackArgs(op.proto, 0).slice(0, -1).join(' ')} "$p"; done; true`;
    case 'process.start': {
      const argv = containerArgv(op.ns, op.uts, [...op.spec.env, [SPEC_MARK, op.specHash], ...markEnv(op.mark)], op.spec.argv);
      // In a subshell, so that no process of the calling shell keeps its stdout open (a pipe would never close).
      return `mkdir -p ${shellQuote(op.log.slice(0, op.log.lastIndexOf('/')))} && (setsid ${argv.map(shellQuote).join(' ')} >>${shellQuote(op.log)} 2>&1 </dev/null &)`;
    }
    case 'kernel.reap':
      return `# the kernel removes these veth pairs with their namespaces, in the background; wait for it\nfor l in ${op.links.join(' ')}; do while [ -e /sys/class/net/$l ]; do sleep 0.05; done; done`;
    case 'process.stop':
      return `kill ${op.pids.join(' ')}`;
  }
  return `# ${(op as Op).kind}`;
}

/** Renders an Op as the shell command that does the same thing: what `explain` and `--dry-run` print. */
import { ipArgs } from '../kernel/iproute2.js';
import { firewallInputs } from '../kernel/firewall.js';
import { conntrackArgs, familyArgs } from '../kernel/conntrack.js';
import { SPEC_MARK } from '../kernel/processes.js';
import { monitorArgv } from '../kernel/monitor.js';
import { isLinkOp, isOvsOp, type Op } from './ops.js';
import { ovsCommands } from '../kernel/ovs.js';
import { fstabFileOf, mntAddArgv, specFileOf } from '../kernel/mnt.js';
import { timesPath } from '../paths.js';
import { tcArgs } from '../model/tc.js';

/** Quotes a word for a POSIX shell only when it needs it. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

const heredoc = (cmd: string, body: string) => `${cmd} <<'EOF'\n${body.endsWith('\n') ? body : `${body}\n`}EOF`;

export function renderOp(op: Op): string {
  if (op.kind === 'netns.add' && op.mark !== undefined) {
    // What the iproute2 executor does in one step (the namespace marked before it is named), as two commands.
    return [renderOp({ kind: 'netns.add', ns: op.ns }), renderOp({ kind: 'link.set', ns: op.ns, name: 'lo', alias: op.mark })].join('\n');
  }
  if (isLinkOp(op)) {
    const { ns, args, program } = ipArgs(op);
    // `ip -6` names the family, as a reader expects of an IPv6 address or route (ip alone infers it).
    const six = /^(addr|route)\./.test(op.kind) && ('cidr' in op ? op.cidr : 'route' in op ? op.route : '').includes(':');
    return [program ?? 'ip', ...(six ? ['-6'] : []), ...(ns ? ['-n', ns] : []), ...args].map(shellQuote).join(' ');
  }
  if (isOvsOp(op)) {
    return ovsCommands(op)
      .map((argv) => argv.map(shellQuote).join(' '))
      .join('\n');
  }
  switch (op.kind) {
    case 'sysctl.set':
      // `modprobe -q ... || true`: where br_netfilter is built into the kernel there is no module to load, and the sysctl must still run.
      return `${op.key.startsWith('net.bridge.') ? 'modprobe -q br_netfilter || true; ' : ''}sysctl -w ${op.key}=${op.value}`;
    case 'file.write':
      return `mkdir -p ${shellQuote(op.path.slice(0, op.path.lastIndexOf('/')))} && ${heredoc(`cat > ${shellQuote(op.path)}`, op.content)}`;
    case 'file.del':
      return `${op.dir ? 'rmdir' : 'rm -f'} ${shellQuote(op.path)}`;
    case 'uts.add':
      return `mkdir -p ${shellQuote(op.path.slice(0, op.path.lastIndexOf('/')))} && touch ${shellQuote(op.path)} && { nsenter --uts=${shellQuote(op.path)} hostname ${shellQuote(op.hostname)} 2>/dev/null || unshare --uts=${shellQuote(op.path)} hostname ${shellQuote(op.hostname)}; }`;
    case 'uts.del':
      return `umount ${shellQuote(op.path)} && rm -f ${shellQuote(op.path)}`;
    case 'mnt.add': {
      const dir = shellQuote(op.path.slice(0, op.path.lastIndexOf('/')));
      // The kernel binds a mount namespace only on a mount that is not shared: the folder is bound on itself, private.
      const privateDir = `mkdir -p ${dir} && { mountpoint -q ${dir} || { mount --bind ${dir} ${dir} && mount --make-private ${dir}; }; }`;
      return `${privateDir} && touch ${shellQuote(op.path)} && echo ${op.hash} > ${shellQuote(specFileOf(op.path))}\n${heredoc(`cat > ${shellQuote(fstabFileOf(op.path))}`, op.fstab)}\n${heredoc(mntAddArgv(op.path, op.ns).map(shellQuote).join(' '), op.script.join('\n'))}`;
    }
    case 'mnt.del':
      return `umount ${shellQuote(op.path)} && rm -f ${shellQuote(op.path)} ${shellQuote(specFileOf(op.path))} ${shellQuote(fstabFileOf(op.path))}`;
    case 'firewall.apply':
    case 'firewall.remove':
      return firewallInputs(op.kind === 'firewall.apply' ? op.want : undefined, op.have)
        .map((p) => heredoc(p.command, p.input))
        .join('\n');
    case 'conntrack.flush':
      if (op.portEnd === undefined) return `${['conntrack', ...conntrackArgs(op.proto, op.port, op.family)].join(' ')} || true`;
      // conntrack -D takes one port: a range is each of its ports that has a flow.
      return `for p in $(conntrack -L ${[...familyArgs(op.family), '-p', op.proto].join(' ')} 2>/dev/null | sed -n 's/^[^=]*dst=[^ ]* sport=[0-9]* dport=\\([0-9]*\\).*/\\1/p' | sort -un); do [ "$p" -ge ${op.port} ] && [ "$p" -le ${op.portEnd} ] && conntrack ${conntrackArgs(op.proto, 0, op.family).slice(0, -1).join(' ')} "$p"; done; true`;
    case 'process.start': {
      // The monitor carries the spec's mark too: netlab finds it by it.
      const argv = ['env', `${SPEC_MARK}=${op.specHash}`, ...monitorArgv(op.dir, op.ns, op.uts, op.mnt, op.spec, op.specHash, op.mark)];
      const dirs = [op.log.slice(0, op.log.lastIndexOf('/')), op.dir].map(shellQuote).join(' ');
      // In a subshell, so that no process of the calling shell keeps its stdout open (a pipe would never close).
      return `mkdir -p ${dirs} && (setsid ${argv.map(shellQuote).join(' ')} >>${shellQuote(op.log)} 2>&1 3>>${shellQuote(timesPath(op.log))} </dev/null & echo $! > ${shellQuote(`${op.dir}/monitor.pid`)})`;
    }
    case 'kernel.reap':
      return `# the kernel removes these veth pairs with their namespaces, in the background; wait for it\nfor l in ${op.links.join(' ')}; do while [ -e /sys/class/net/$l ]; do sleep 0.05; done; done`;
    case 'process.stop':
      return `kill ${op.monitor ? `-KILL ${op.monitor}; kill ` : ''}${op.pids.join(' ')}`;
    case 'tc.set':
      return tcArgs(op.dev, op.impair, op.have)
        .map((args) => ['tc', '-n', op.ns, ...args].map(shellQuote).join(' '))
        .join('\n');
  }
  return `# ${(op as Op).kind}`;
}

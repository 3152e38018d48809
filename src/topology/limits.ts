/**
 * The limits a lab must fit that only show once it is built: what execve(2) takes as a
 * container's environment and command, and how many firewall rules the lab makes. Checked on
 * the file, before any change, so that a lab the kernel would refuse halfway is never started.
 */
import { linkEnv } from '../model/links.js';
import { exposeRuns } from '../model/port-runs.js';
import { forwardedBy, portCount } from '../model/ports.js';
import type { PathSegment } from './yamlpos.js';
import type { ContainerDef } from './types.js';

/** The kernel's MAX_ARG_STRLEN (32 pages): the longest single argument or `NAME=value`, with its NUL. */
export const MAX_ARG_STRLEN = 32 * 4096;
/**
 * The most a container's environment and command may take, counted as execve(2) counts them
 * (each string, its NUL and its pointer): half of the usual ARG_MAX (2 MiB with an 8 MiB
 * stack), the rest left for PATH, netlab's own marks and the programs that start the command.
 */
export const ENV_BUDGET = 1 << 20;
/** Firewall rules per lab: each published port makes two, each link two per port of its target. */
export const MAX_RULES = 20_000;

export interface LimitProblem {
  path: PathSegment[];
  message: string;
}

/** The lab's address in the worst case for length: the link variables are sized before addresses exist. */
const LONGEST_IP = '255.255.255.255';
const POINTER = 8;
/** No port makes less than this in link variables (four variables of at least 25 bytes). */
const LEAST_PER_PORT = 100;

/** The shell's path and its "-c", with their NULs and pointers. */
const SHELL_ARGS = 32;

const entryBytes = (k: string, v: string) => Buffer.byteLength(k) + 1 + Buffer.byteLength(v) + 1 + POINTER;

/** NUL bytes (C strings end there) and strings longer than one execve(2) argument may be. */
export function argumentProblems(ctr: string, env: Record<string, string>, command: string | string[] | undefined): LimitProblem[] {
  const out: LimitProblem[] = [];
  const at = (...p: PathSegment[]) => ['containers', ctr, ...p];
  for (const [k, v] of Object.entries(env)) {
    if (v.includes('\0')) out.push({ path: at('env', k), message: 'holds a NUL byte, which no environment variable can carry' });
    else if (entryBytes(k, v) - POINTER > MAX_ARG_STRLEN) out.push({ path: at('env', k), message: `is longer than the kernel takes for one variable (${MAX_ARG_STRLEN} bytes)` });
  }
  const args = typeof command === 'string' ? [[at('command'), command] as const] : (command ?? []).map((a, i) => [at('command', i), a] as const);
  for (const [path, arg] of args) {
    if (arg.includes('\0')) out.push({ path, message: 'holds a NUL byte, which no program argument can carry' });
    else if (Buffer.byteLength(arg) + 1 > MAX_ARG_STRLEN) out.push({ path, message: `is longer than the kernel takes for one argument (${MAX_ARG_STRLEN} bytes)` });
  }
  return out;
}

/** The firewall rules the lab makes beyond MAX_RULES, blamed on the entry that makes the most. */
export function ruleProblem(containers: ContainerDef[]): LimitProblem | undefined {
  const byName = new Map(containers.map((c) => [c.name, c]));
  const linkedBy = new Map<string, number>();
  for (const c of containers) for (const l of c.links) linkedBy.set(l.target, (linkedBy.get(l.target) ?? 0) + 1);
  let total = 0;
  let worst = { rules: -1, path: [] as PathSegment[], what: '' };
  const blame = (rules: number, path: PathSegment[], what: string) => {
    total += rules;
    if (rules > worst.rules) worst = { rules, path, what };
  };
  for (const c of containers) {
    const published = publishedCount(c);
    // A run of consecutive ports onto consecutive ports is one DNAT and one ACCEPT (model/port-runs.ts).
    blame(2 * publishRuns(c) + c.publish.filter((b) => b.hostIp.startsWith('127.')).length, ['containers', c.name, 'publish'], `its ${published} published ports make`);
    const links = linkedBy.get(c.name) ?? 0;
    if (links > 0 && byName.has(c.name))
      blame(2 * links * exposeRuns(c.expose).length, ['containers', c.name, 'expose'], `its ${c.expose.length} exposed ports, linked ${links === 1 ? 'once' : `${links} times`}, make`);
  }
  if (total <= MAX_RULES) return undefined;
  return { path: worst.path, message: `${worst.what} ${worst.rules} firewall rules (the lab ${total} in all): more than netlab's limit of ${MAX_RULES} per lab` };
}

/** How many runs `c`'s publish entries make (host and container ports both consecutive, one address and protocol), plus publishAll's ports. */
function publishRuns(c: ContainerDef): number {
  let runs = 0;
  let prev: ContainerDef['publish'][number] | undefined;
  for (const b of c.publish) {
    const continues =
      prev && b.hostPort !== 0 && b.hostIp === prev.hostIp && b.proto === prev.proto && b.hostPort === prev.hostPort + portCount(prev) && b.containerPort === prev.containerPort + portCount(prev);
    if (!continues) runs++;
    prev = b;
  }
  return runs + publishedCount(c) - c.publish.length;
}

/** Bindings of `c`: its publish entries, and with publishAll each exposed port not published. */
function publishedCount(c: ContainerDef): number {
  if (!c.publishAll) return c.publish.length;
  const published = forwardedBy(c.publish);
  return c.publish.length + c.expose.filter((p) => !published(p)).length;
}

/**
 * Each container whose environment (link variables, its own `env`, HOSTNAME) and command
 * take more than ENV_BUDGET. Run after ruleProblem, which bounds the ports links can bring.
 */
export function environmentProblems(containers: ContainerDef[]): LimitProblem[] {
  const byName = new Map(containers.map((c) => [c.name, c]));
  const out: LimitProblem[] = [];
  for (const c of containers) {
    let own = entryBytes('HOSTNAME', c.hostname);
    for (const [k, v] of Object.entries(c.env)) own += entryBytes(k, v);
    // The string form runs as the shell's third argument, after its path and "-c".
    const args = c.command === undefined ? [] : typeof c.command === 'string' ? [c.command] : c.command;
    for (const a of args) own += Buffer.byteLength(a) + 1 + POINTER;
    if (typeof c.command === 'string') own += SHELL_ARGS;
    let total = own;
    let estimated = false;
    let worst = { bytes: own, path: ['containers', c.name, c.env && Object.keys(c.env).length ? 'env' : 'command'] as PathSegment[] };
    c.links.forEach((l, i) => {
      const child = byName.get(l.target);
      if (!child || total > ENV_BUDGET) return;
      // Past the budget on its ports alone: not worth making the variables to count them.
      estimated ||= child.expose.length * LEAST_PER_PORT > ENV_BUDGET;
      const bytes = estimated ? child.expose.length * LEAST_PER_PORT : linkBytes(c.name, l.alias, child);
      total += bytes;
      if (bytes > worst.bytes) worst = { bytes, path: ['containers', c.name, 'links', i] };
    });
    if (total > ENV_BUDGET)
      out.push({
        path: worst.path,
        message: `the environment of "${c.name}" would take ${estimated ? 'more than ' : ''}${total} bytes (${worst.bytes} of them from here): more than the ${ENV_BUDGET} netlab allows, within the kernel's limit for a command (ARG_MAX)`,
      });
  }
  return out;
}

function linkBytes(parent: string, alias: string, child: ContainerDef): number {
  let bytes = 0;
  for (const [k, v] of linkEnv(parent, alias, { name: child.name, ip: LONGEST_IP, ports: child.expose, env: child.env })) bytes += entryBytes(k, v);
  return bytes;
}

/**
 * netlab.yaml → Topology: parse, check the shape with zod, then the rules that span fields.
 * Every problem names its YAML path and line; all of them are reported at once.
 */
import { LineCounter, parseDocument, type Document } from 'yaml';
import { InputError, type InputProblem } from '../errors.js';
import { parseIp, formatCidr } from '../model/ipv4.js';
import { LAB_NAME } from '../model/names.js';
import { specialAddress } from '../model/special.js';
import { topologySchema, type RawTopology } from './schema.js';
import { FILE_LIMIT, readTopologyText, type LoadOptions } from './source.js';
import { escapeControls, quoteKey, quoteValue, yamlMessage } from './quote.js';
import { duplicateKeys, findLinkCycle, nestingBeyond, tooMany } from './shape.js';
import { argumentProblems, environmentProblems, ruleProblem } from './limits.js';
import { checkNetworks } from './networks.js';
import { containerDef, type ContainerScope, type LinkCheck } from './container.js';
import { nameClashes } from './hostnames.js';
import { didYouMean, keysAt } from './suggest.js';

export { DEFAULT_FILE, DEMO_FILE, DEMO_SOURCE, resolveTopologyFile, type LoadOptions } from './source.js';
import { formatPath, lineOf, listLines, type PathSegment } from './yamlpos.js';
import type { ContainerDef, HostDef, Topology } from './types.js';

/**
 * Limits that keep hostile or broken files from costing the host anything: a lab is at most
 * 1000 containers (what scripts/bench measures; each is a namespace, a veth pair and a process)
 * and 64 networks, a file at most 1 MiB, YAML nesting at most 32 deep, aliases at most 100.
 * limits.ts has those of a container's environment and of the lab's firewall rules.
 */
export const LIMITS = { containers: 1000, networks: 64, fileBytes: FILE_LIMIT, depth: 32, aliases: 100 } as const;
/** A file with more problems than this shows the first ones and a count of the rest. */
const SHOWN_PROBLEMS = 20;

export function loadTopology(opts: LoadOptions = {}): Topology {
  const { text, source, defaultName, dir } = readTopologyText(opts);
  return parseTopology(text, { source, defaultName, name: opts.name, dir });
}

type Ctx = { source: string; defaultName: string; name?: string; dir?: string };

export function parseTopology(text: string, ctx: Ctx): Topology {
  if (Buffer.byteLength(text) > LIMITS.fileBytes) refuse([{ path: '', message: `the file is larger than ${LIMITS.fileBytes} bytes, netlab's limit for a topology` }], ctx.source);
  const deep = nestingBeyond(text, LIMITS.depth);
  if (deep) refuse([{ path: '', message: `YAML nested deeper than ${LIMITS.depth} levels`, line: deep }], ctx.source);
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: false });
  if (doc.errors.length > 0) {
    refuse(
      doc.errors.map((e) => ({ path: '', message: `YAML syntax: ${yamlMessage(e.message)}`, line: lc.linePos(e.pos[0]).line })),
      ctx.source,
    );
  }
  const twice = duplicateKeys(doc, lc);
  if (twice.length > 0) refuse(twice, ctx.source);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: LIMITS.aliases }) ?? {};
  } catch (e) {
    // The yaml package refuses alias bombs ("billion laughs") here.
    refuse([{ path: '', message: `YAML: ${yamlMessage((e as Error).message)}` }], ctx.source);
  }
  const counted = tooMany(data, doc, lc, LIMITS);
  if (counted) refuse([counted], ctx.source);
  const parsed = topologySchema.safeParse(data);
  if (!parsed.success) refuse(schemaProblems(parsed.error.issues, doc, lc), ctx.source);
  return validate(parsed.data, doc, lc, ctx);
}

/** Throws the problems as an InputError: escaped, cut to a line each, the first SHOWN_PROBLEMS of them. */
function refuse(problems: InputProblem[], source: string): never {
  const clean = (text: string) => {
    const t = escapeControls(text);
    return t.length > 400 ? `${t.slice(0, 400)}…` : t;
  };
  const shown = problems.slice(0, SHOWN_PROBLEMS).map((p) => ({ ...p, path: clean(p.path), message: clean(p.message) }));
  if (problems.length > SHOWN_PROBLEMS) shown.push({ path: '', message: `and ${problems.length - SHOWN_PROBLEMS} more problems` });
  throw new InputError(shown, source);
}

type ZodIssue = { code: string; path: PropertyKey[]; message: string; keys?: string[]; issues?: { message: string }[] };

function schemaProblems(issues: readonly ZodIssue[], doc: Document, lc: LineCounter): InputProblem[] {
  const problems: InputProblem[] = [];
  for (const issue of issues) {
    const path = issue.path as PathSegment[];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys ?? []) {
        // A key shown only in part (a line of a file that is not a topology) is placed at its parent.
        const whole = quoteKey(key) === JSON.stringify(key);
        problems.push({
          path: formatPath(whole ? [...path, key] : path) || '(top level)',
          message: `unknown key ${quoteKey(key)}${whole ? didYouMean(key, keysAt(topologySchema, path)) : ''}`,
          line: lineOf(doc, lc, [...path, key], true),
        });
      }
    } else if (issue.code === 'invalid_key') {
      // A bad name used as a key (container, network, variable): say why, not just "invalid key".
      const inner = issue.issues?.[0]?.message ?? 'is not a valid name';
      problems.push({ path: formatPath(path.slice(0, -1)) || '(top level)', message: `the name ${quoteKey(String(path.at(-1)))} ${inner}`, line: lineOf(doc, lc, path, true) });
    } else {
      problems.push({ path: formatPath(path) || '(top level)', message: issue.message, line: lineOf(doc, lc, path) });
    }
  }
  return problems;
}

function validate(raw: RawTopology, doc: Document, lc: LineCounter, ctx: Ctx): Topology {
  const problems: InputProblem[] = [];
  const lineAt = (path: PathSegment[]) => lineOf(doc, lc, path);
  const problem = (path: PathSegment[], message: string) => problems.push({ path: formatPath(path), message, line: lineAt(path) });
  /** `file:line` of an entry, for messages that name two places. */
  const place = (path: PathSegment[]) => `${ctx.source}${lineAt(path) ? `:${lineAt(path)}` : ''}`;

  const name = ctx.name ?? raw.name ?? ctx.defaultName;
  if (!LAB_NAME.test(name)) problem(['name'], `lab name ${quoteValue(name)} must be 1-16 characters: lower-case letters, digits, "_" or "-"`);

  const hosts = checkHosts(raw, problem);
  const networks = checkNetworks(raw, name, { problem, place });
  const netByName = new Map(networks.map((n) => [n.name, n]));

  const rawContainers = raw.containers ?? {};
  if (Object.keys(rawContainers).length === 0) problem(['containers'], 'a lab needs at least one container: "containers:" is required');
  const containers: ContainerDef[] = [];
  const linkChecks: LinkCheck[] = [];
  const shared: ContainerScope['shared'] = { staticOwner: new Map(), hostPorts: new Map() };
  for (const [ctrName, c] of Object.entries(rawContainers)) {
    const def = containerDef(ctrName, c, { raw, hosts, networks, netByName, shared, linkChecks, problem, place, lineOf: lineAt, dir: ctx.dir ?? process.cwd() });
    containers.push(def);
    for (const p of argumentProblems(ctrName, def.env, def.command)) problem(p.path, p.message);
  }

  // A network with a given subnet must have an address for each member (besides network, broadcast, gateway).
  for (const net of networks) {
    if (!net.subnet) continue;
    const members = containers.filter((c) => c.networks.includes(net.name)).length;
    const usable = 2 ** (32 - net.subnet.prefix) - 3;
    if (members > usable) problem(raw.networks ? ['networks', net.name, 'subnet'] : [], `${members} containers do not fit: ${formatCidr(net.subnet)} has ${usable} addresses besides its gateway`);
  }

  // Links need their target to exist and share a network; a link to itself or a cycle is refused.
  const byName = new Map(containers.map((c) => [c.name, c]));
  for (const { ctr, link, path } of linkChecks) {
    const target = byName.get(link.target);
    if (link.target === ctr) problem(path, 'a container cannot link to itself');
    else if (!target) problem(path, `links to ${quoteValue(link.target)}, which is not a container of this lab${didYouMean(link.target, byName.keys())}`);
    else if (!target.networks.some((n) => byName.get(ctr)!.networks.includes(n))) problem(path, `links to "${link.target}", which shares no network with "${ctr}"`);
  }
  const cycle = findLinkCycle(containers);
  if (cycle) problem(['containers', cycle[0]!, 'links'], `links form a cycle: ${cycle.join(' -> ')}`);
  for (const p of nameClashes(containers, place)) problem(p.path, p.message);

  // What the lab would make (firewall rules, environments) is counted only on an otherwise valid file.
  if (problems.length === 0) {
    const rules = ruleProblem(containers);
    if (rules) problem(rules.path, rules.message);
    else for (const p of environmentProblems(containers)) problem(p.path, p.message);
  }

  if (problems.length > 0) refuse(problems, ctx.source);
  return { name, source: ctx.source, firewall: raw.firewall, hosts, networks, containers, lines: entryLines(raw, doc, lc) };
}

function checkHosts(raw: RawTopology, problem: (path: PathSegment[], message: string) => void): HostDef[] {
  const hosts: HostDef[] = [];
  const underlays = new Map<number, string>();
  for (const [hostName, h] of Object.entries(raw.hosts ?? {})) {
    const [addr, len] = h.underlay.split('/');
    const ip = parseIp(addr ?? '');
    const prefix = len === undefined ? 24 : /^\d{1,2}$/.test(len) ? Number(len) : NaN;
    const special = ip === undefined ? undefined : specialAddress(ip, false);
    if (ip === undefined || !(prefix >= 8 && prefix <= 30)) problem(['hosts', hostName, 'underlay'], `${quoteValue(h.underlay)} is not an IPv4 address (optionally with a /8-/30 prefix)`);
    else if (special) problem(['hosts', hostName, 'underlay'], `${addr} ${special}: an underlay is a host's own unicast address`);
    else if (underlays.has(ip)) problem(['hosts', hostName, 'underlay'], `${addr} is already the underlay of host "${underlays.get(ip)}"`);
    else {
      underlays.set(ip, hostName);
      hosts.push({ name: hostName, underlay: ip, prefix });
    }
  }
  return hosts;
}

/** Lines of each network's subnet and each publish entry (Topology.lines). */
function entryLines(raw: RawTopology, doc: Document, lc: LineCounter): Record<string, number> {
  const lines: Record<string, number> = {};
  for (const [net, n] of Object.entries(raw.networks ?? {})) {
    for (const key of ['subnet', 'subnet6'] as const) {
      const line = n[key] !== undefined ? lineOf(doc, lc, ['networks', net, key]) : undefined;
      if (line) lines[formatPath(['networks', net, key])] = line;
    }
  }
  for (const [ctr, entries] of listLines(doc, lc, 'containers', 'publish')) {
    for (const [i, line] of entries.entries()) lines[formatPath(['containers', ctr, 'publish', i])] = line;
  }
  return lines;
}

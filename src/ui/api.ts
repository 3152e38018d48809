/** The page's JSON API and its event stream. Every answer is computed from the lab's state and the kernel at the time of asking. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import { InputError } from '../errors.js';
import { containerDetail, counters, currentLab, explainPart, labPicture, labsUp, labVersion, type Selection } from './data.js';
import { traceHops, uiLab } from './model.js';
import { labGraph } from '../graph/model.js';
import { send } from './respond.js';
import type { TraceResult } from '../trace/model.js';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const json = (res: ServerResponse, body: unknown) => send(res, 200, 'application/json', JSON.stringify(body));
const need = (url: URL, key: string) => {
  const v = url.searchParams.get(key);
  if (!v) throw new InputError([{ path: key, message: 'missing' }]);
  return v;
};

export async function apiRoute(req: IncomingMessage, res: ServerResponse, url: URL, sel: Selection): Promise<void> {
  const name = url.searchParams.get('lab') ?? undefined;
  switch (`${req.method} ${url.pathname}`) {
    case 'GET /api/labs':
      return json(res, await labList(sel));
    case 'GET /api/lab':
      return json(res, await labPicture(name, sel));
    case 'GET /api/container':
      return json(res, await containerDetail(need(url, 'lab'), need(url, 'container')));
    case 'GET /api/explain':
      return json(res, await nodeExplain(name, sel, need(url, 'node')));
    case 'GET /api/events':
      return events(req, res, need(url, 'lab'));
    case 'POST /api/trace':
      return json(res, await runTrace(JSON.parse(await body(req)) as TraceRequest));
    default:
      return send(res, 404, 'application/json', JSON.stringify({ error: 'no such API' }));
  }
}

async function labList(sel: Selection): Promise<{ labs: string[]; selected?: string }> {
  const up = await labsUp();
  if (sel.all) return { labs: up, ...(up[0] ? { selected: up[0] } : {}) };
  const { lab } = await currentLab(undefined, sel);
  return { labs: [lab.name], selected: lab.name };
}

async function nodeExplain(name: string | undefined, sel: Selection, id: string) {
  const { lab, live } = await currentLab(name, sel);
  const node = uiLab(lab, labGraph(lab, { live }), live).nodes.find((n) => n.id === id);
  if (!node) throw new InputError([{ path: 'node', message: `lab "${lab.name}" has no part "${id}"` }]);
  return explainPart(lab, node);
}

/** Every second the lab's counters, and `changed` when its state changed (an `up` or `down` ran). */
function events(req: IncomingMessage, res: ServerResponse, lab: string): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
  let version: string | undefined;
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      const now = await labVersion(lab);
      if (version !== undefined && now !== version) res.write(`event: changed\ndata: ${JSON.stringify({ version: now })}\n\n`);
      version = now;
      if (now !== 'down') res.write(`event: counters\ndata: ${JSON.stringify(await counters(lab))}\n\n`);
    } catch (e) {
      res.write(`event: problem\ndata: ${JSON.stringify({ error: (e as Error).message })}\n\n`);
    } finally {
      busy = false;
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), 1000);
  req.on('close', () => clearInterval(timer));
}

interface TraceRequest {
  lab: string;
  from: string;
  to: string;
  port?: number;
  proto?: 'tcp' | 'udp' | 'icmp';
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Runs `netlab trace --json` (its own process: it cleans up after itself even if this server dies). */
async function runTrace(t: TraceRequest): Promise<{ result: TraceResult; hops: ReturnType<typeof traceHops> }> {
  for (const [k, v] of Object.entries({ lab: t.lab, from: t.from, to: t.to }))
    if (typeof v !== 'string' || !NAME.test(v)) throw new InputError([{ path: k, message: 'a lab, container, host or outside' }]);
  const proto = t.proto ?? 'tcp';
  if (!['tcp', 'udp', 'icmp'].includes(proto)) throw new InputError([{ path: 'proto', message: 'tcp, udp or icmp' }]);
  if (proto !== 'icmp' && !(Number.isInteger(t.port) && t.port! >= 1 && t.port! <= 65535)) throw new InputError([{ path: 'port', message: 'a port 1-65535' }]);
  const dst = proto === 'icmp' ? t.to : `${t.to}:${t.port}`;
  const args = [CLI, 'trace', '-l', t.lab, '--json', ...(proto === 'tcp' ? [] : [`--${proto}`]), t.from, dst];
  const r = await execa(process.execPath, args, { reject: false, timeout: 60_000 });
  if (r.exitCode !== 0 && !r.stdout.startsWith('{')) throw new Error(r.stderr.trim() || `netlab trace exited with ${r.exitCode}`);
  const result = JSON.parse(r.stdout) as TraceResult;
  const { lab } = await currentLab(t.lab, {});
  return { result, hops: traceHops(lab, result) };
}

async function body(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new InputError([{ path: 'body', message: 'too large' }]);
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts).toString('utf8');
}

/**
 * The page: draws the lab's SVG (the same layout as `netlab graph`), makes its parts clickable
 * and keyboard-reachable, shows counters from the server's event stream on the veth edges and
 * published ports, and animates a trace hop by hop. Plain DOM: the page is small, and a
 * framework would be a build step and a download for a few hundred lines.
 */
export {};

interface UiNode {
  id: string;
  kind: string;
  label: string[];
  container?: string;
}
interface UiEdge {
  key: string;
  from: string;
  to: string;
  kind: string;
  label?: string;
}
interface LabPicture {
  lab: string;
  live: boolean;
  containers: string[];
  nodes: UiNode[];
  edges: UiEdge[];
  svg: string;
  counters: { interfaces: Record<string, string>; ports: Record<string, string> };
}
interface Counters {
  at: number;
  interfaces: Record<string, { rxBytes: number; txBytes: number; rxPackets: number; txPackets: number; dropped: number }>;
  ports: Record<string, number | null>;
}
interface Hop {
  node: string;
  leg: string;
  text: string;
  nat?: string;
  verdict?: string;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
let picture: LabPicture | undefined;
let stream: EventSource | undefined;
let last: Counters | undefined;
const elements = new Map<string, SVGGElement>();

async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const r = await fetch(url, init);
  const body = (await r.json()) as T & { error?: string };
  if (!r.ok) throw new Error(body.error ?? `${r.status}`);
  return body;
}

function status(text: string): void {
  $('status').textContent = text;
}

async function start(): Promise<void> {
  const { labs, selected } = await getJson<{ labs: string[]; selected?: string }>('/api/labs');
  const select = $<HTMLSelectElement>('lab');
  select.replaceChildren(...labs.map((l) => new Option(l, l, l === selected, l === selected)));
  select.onchange = () => void show(select.value);
  $('trace').addEventListener('submit', (e) => {
    e.preventDefault();
    void runTrace();
  });
  if (selected) await show(selected);
  else status('no lab is up');
}

async function show(lab: string): Promise<void> {
  picture = await getJson<LabPicture>(`/api/lab?lab=${encodeURIComponent(lab)}`);
  draw(picture);
  fillTraceChoices(picture);
  status(picture.live ? `lab ${lab}: live` : `lab ${lab}: not up (drawn from its file)`);
  stream?.close();
  last = undefined;
  if (!picture.live) return;
  stream = new EventSource(`/api/events?lab=${encodeURIComponent(lab)}`);
  stream.addEventListener('counters', (e) => showCounters(JSON.parse((e as MessageEvent).data) as Counters));
  stream.addEventListener('changed', () => void show(lab));
  stream.addEventListener('problem', (e) => status(`counters: ${(JSON.parse((e as MessageEvent).data) as { error: string }).error}`));
}

/** Puts the SVG in the page and ties each drawn part to its node or edge by Graphviz's <title>. */
function draw(p: LabPicture): void {
  const box = $('picture');
  box.innerHTML = p.svg.replace(/^[\s\S]*?(<svg)/, '$1');
  // Graphviz fixes the size in points; the viewBox alone lets the picture fill the panel.
  const svg = box.querySelector('svg');
  svg?.removeAttribute('width');
  svg?.removeAttribute('height');
  elements.clear();
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  for (const g of box.querySelectorAll<SVGGElement>('g.node, g.cluster, g.edge')) {
    const title = g.querySelector('title')?.textContent ?? '';
    elements.set(title, g);
    g.dataset.id = title;
    const node = nodes.get(title);
    if (!node) continue;
    g.setAttribute('tabindex', '0');
    g.setAttribute('role', 'button');
    g.setAttribute('aria-label', node.label.join(', '));
    g.addEventListener('click', (e) => {
      e.stopPropagation();
      void select(node, g);
    });
    g.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        void select(node, g);
      }
    });
  }
}

async function select(node: UiNode, g: SVGGElement): Promise<void> {
  for (const s of document.querySelectorAll('g.selected')) s.classList.remove('selected');
  g.classList.add('selected');
  const lab = picture!.lab;
  const details = $('details');
  details.replaceChildren(h('h2', node.label.join(' · ')));
  if (node.container && picture!.live && (node.kind === 'container' || node.kind === 'iface')) {
    try {
      const d = await getJson<{ inspect: { State: { Status: string; Pid: number } }; addresses: string; routes: string; hosts: string; linkEnv: string[]; logTail: string[] }>(
        `/api/container?lab=${encodeURIComponent(lab)}&container=${encodeURIComponent(node.container)}`,
      );
      details.append(
        h('h3', 'process'),
        pre(`${d.inspect.State.Status}${d.inspect.State.Pid ? ` (pid ${d.inspect.State.Pid})` : ''}`),
        h('h3', 'interfaces'),
        pre(d.addresses),
        h('h3', 'routes'),
        pre(d.routes),
        h('h3', '/etc/hosts'),
        pre(d.hosts),
      );
      if (d.linkEnv.length) details.append(h('h3', 'link variables'), pre(d.linkEnv.join('\n')));
      details.append(h('h3', 'last log lines'), pre(d.logTail.join('\n') || '(no output)'));
    } catch (e) {
      details.append(pre(`details: ${(e as Error).message}`));
    }
  }
  try {
    const parts = await getJson<{ title: string; why: string[]; commands: string[] }[]>(`/api/explain?lab=${encodeURIComponent(lab)}&node=${encodeURIComponent(node.id)}`);
    for (const s of parts) details.append(h('h3', `the commands: ${s.title}`), ...s.why.map((w) => h('p', w, 'why')), pre(s.commands.join('\n')));
  } catch (e) {
    details.append(pre(`explain: ${(e as Error).message}`));
  }
  details.focus();
}

function h(tag: string, text: string, cls?: string): HTMLElement {
  const e = document.createElement(tag);
  e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

const pre = (text: string) => h('pre', text);

const rate = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : `${Math.round(n)}`);

/** Per second since the last frame: packets and bytes on each veth edge, hits on each published port. */
function showCounters(c: Counters): void {
  const p = picture;
  if (!p) return;
  const prev = last;
  last = c;
  const dt = prev ? (c.at - prev.at) / 1000 : 0;
  for (const [iface, edgeKey] of Object.entries(p.counters.interfaces)) {
    const now = c.interfaces[iface];
    if (!now) continue;
    const was = prev?.interfaces[iface];
    const pps = was && dt > 0 ? (now.rxPackets + now.txPackets - was.rxPackets - was.txPackets) / dt : 0;
    const bps = was && dt > 0 ? (now.rxBytes + now.txBytes - was.rxBytes - was.txBytes) / dt : 0;
    const drops = was ? now.dropped - was.dropped : 0;
    label(edgeKey, `${rate(pps)} pkt/s ${rate(bps)} B/s${now.dropped ? ` drops ${now.dropped}` : ''}`, drops > 0 ? 'counter drops' : 'counter', `counter-${iface}`);
  }
  for (const [port, nodeId] of Object.entries(p.counters.ports)) {
    const hits = c.ports[port];
    label(nodeId, hits === null || hits === undefined ? 'hits: n/a' : `hits ${hits}`, 'counter', `hits-${port}`);
  }
}

/** A small text on a drawn node or edge (placed at its middle), made once and updated. */
function label(key: string, text: string, cls: string, id: string): SVGTextElement | undefined {
  const g = elements.get(key);
  if (!g) return undefined;
  let t = g.querySelector<SVGTextElement>(`text[data-counter="${CSS.escape(id)}"]`);
  if (!t) {
    t = document.createElementNS('http://www.w3.org/2000/svg', 'text');
    t.dataset.counter = id;
    const shape = g.querySelector<SVGGeometryElement>('path, polygon, ellipse');
    if (shape) {
      const b = shape.getBBox();
      t.setAttribute('x', String(b.x));
      const stacked = g.querySelectorAll('text[data-counter]').length;
      t.setAttribute('y', String(b.y + b.height + 11 * (stacked + 1)));
    }
    g.append(t);
  }
  t.textContent = text;
  t.setAttribute('class', cls);
  return t;
}

function fillTraceChoices(p: LabPicture): void {
  const names = [...p.containers, 'host', 'outside'];
  for (const id of ['trace-from', 'trace-to']) {
    const s = $<HTMLSelectElement>(id);
    s.replaceChildren(...names.map((n) => new Option(n, n)));
  }
  $<HTMLSelectElement>('trace-to').value = p.containers[0] ?? 'host';
  $<HTMLSelectElement>('trace-from').value = p.containers[1] ?? 'host';
}

async function runTrace(): Promise<void> {
  const p = picture;
  if (!p) return;
  for (const g of document.querySelectorAll('g.hop, g.hop-dropped')) g.classList.remove('hop', 'hop-dropped');
  for (const t of document.querySelectorAll('text.nat')) t.remove();
  const list = $('hops');
  list.replaceChildren();
  const proto = $<HTMLSelectElement>('trace-proto').value;
  const req = { lab: p.lab, from: $<HTMLSelectElement>('trace-from').value, to: $<HTMLSelectElement>('trace-to').value, proto, port: Number($<HTMLInputElement>('trace-port').value) };
  $('trace-end').textContent = 'tracing…';
  try {
    const r = await getJson<{ result: { end: { kind: string; detail: string } }; hops: Hop[] }>('/api/trace', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(req),
    });
    await animate(r.hops, list);
    $('trace-end').textContent = `${r.result.end.kind}: ${r.result.end.detail}`;
    document.body.dataset.traceEnd = r.result.end.kind;
  } catch (e) {
    $('trace-end').textContent = `trace failed: ${(e as Error).message}`;
  }
}

/** Lights each hop's node in turn, lists what happened there, and writes NAT rewrites on the picture. */
async function animate(hops: Hop[], list: HTMLElement): Promise<void> {
  for (const [i, hop] of hops.entries()) {
    const g = elements.get(hop.node);
    g?.classList.add(hop.verdict === 'dropped' ? 'hop-dropped' : 'hop');
    if (g) g.dataset.hop = String(i + 1);
    if (hop.nat) label(hop.node, hop.nat, 'nat', `nat-${i}`);
    const li = h('li', `${hop.leg === 'reply' ? '↩ ' : ''}${hop.text}${hop.nat ? `\nNAT: ${hop.nat}` : ''}`, hop.verdict === 'dropped' ? 'dropped' : undefined);
    li.dataset.node = hop.node;
    list.append(li);
    await new Promise((r) => setTimeout(r, 250));
  }
}

void start().catch((e: Error) => status(`error: ${e.message}`));

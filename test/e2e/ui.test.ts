/**
 * `netlab ui` in a real browser (Debian's chromium, headless, driven by puppeteer-core): the
 * picture of a running lab with every container and bridge and its address, a container added
 * by `up` appearing without a reload, counters rising with traffic, a trace of a published port
 * lit hop by hop with its DNAT; a two-network icc:false lab and the simulated multi-host example
 * drawn. The server refuses a non-loopback bind without --listen, serves nothing outside its
 * files, and stops cleanly on Ctrl-C. Screenshots go to test-artifacts/ui (UPDATE_SCREENSHOTS=1:
 * also to docs/ui, where the README's picture comes from).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { CLI, cli, httpGet, uniqueLab } from '../helpers/kernel.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

const ROOT = resolve(import.meta.dirname, '../..');
const ARTIFACTS = join(ROOT, 'test-artifacts/ui');
const CHROMIUM = process.env.CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p)) ?? 'no Chromium: run scripts/install-deps.sh or set CHROMIUM';
const PORT = 49181;
let browser: Browser;
const dir = tempDir('ui');

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file as `${string}.png` });
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    mkdirSync(join(ROOT, 'docs/ui'), { recursive: true });
    copyFileSync(file, join(ROOT, 'docs/ui', `${name}.png`));
  }
}

/** Starts `netlab ui` and resolves to its address once it prints it. */
async function startUi(args: string[]): Promise<{ proc: ResultPromise; url: string }> {
  const proc = execa(process.execPath, [CLI, 'ui', '--port', '0', ...args], { reject: false, all: true, env: { NETLAB_LOG_LEVEL: 'warn' } });
  const url = await new Promise<string>((res, rej) => {
    let seen = '';
    proc.all!.on('data', (d: Buffer) => {
      seen += d.toString();
      const m = /netlab ui: (http:\/\/\S+)/.exec(seen);
      if (m) res(m[1]!);
    });
    void proc.then(() => rej(new Error(`netlab ui exited: ${seen}`)));
  });
  return { proc, url };
}

async function openPage(url: string): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  await page.goto(url);
  await page.waitForSelector('#picture svg g.node', { timeout: 20_000 });
  return page;
}

const svgText = (page: Page) => page.$eval('#picture svg', (s) => s.textContent ?? '');

const demoShape = (lab: string, extra = '') =>
  `name: ${lab}\nnetworks:\n  n0: { bridge: nl${lab.slice(-8)} }\ncontainers:\n  web:\n    expose: [80]\n    publish: ["${PORT}:80"]\n    command: [netlab, serve, --port, "80"]\n  client:\n    links: ["web:webalias"]\n${extra}`;

beforeAll(async () => {
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser?.close();
  removeTempDir(dir);
});

describe('netlab ui', () => {
  it('draws the demo lab live, shows an added container, counts traffic, and animates a trace of the published port', async () => {
    const lab = uniqueLab();
    const file = join(dir, `${lab}.yaml`);
    writeFileSync(file, demoShape(lab));
    let ui: Awaited<ReturnType<typeof startUi>> | undefined;
    try {
      expect((await cli(['up', '-q', '-f', file])).exitCode).toBe(0);
      ui = await startUi(['-f', file]);
      const page = await openPage(ui.url);
      const text = await svgText(page);
      const ps = JSON.parse((await cli(['ps', '--json', '-f', file])).stdout) as { name: string; ip: string }[];
      for (const c of ps) {
        expect(text).toContain(`container ${c.name}`);
        expect(text).toContain(c.ip);
      }
      expect(text).toMatch(new RegExp(`bridge nl${lab.slice(-8)}`));
      await screenshot(page, 'demo');

      writeFileSync(file, demoShape(lab, '  extra:\n    links: [web]\n'));
      expect((await cli(['up', '-q', '-f', file])).exitCode).toBe(0);
      await page.waitForFunction(() => document.querySelector('#picture svg')?.textContent?.includes('container extra'), { timeout: 15_000 });

      for (let i = 0; i < 5; i++) await httpGet(`http://127.0.0.1:${PORT}/`);
      await page.waitForFunction(() => [...document.querySelectorAll('text.counter')].some((t) => /^hits [1-9]/.test(t.textContent ?? '')), { timeout: 15_000 });
      await page
        .waitForFunction(() => [...document.querySelectorAll('text.counter')].some((t) => /^[1-9][\d.]*k? pkt\/s/.test(t.textContent ?? '')), { timeout: 15_000, polling: 200 })
        .catch(async () => {
          // A rate needs traffic during a counter interval: keep some going while waiting.
          const keep = setInterval(() => void httpGet(`http://127.0.0.1:${PORT}/`).catch(() => {}), 100);
          try {
            await page.waitForFunction(() => [...document.querySelectorAll('text.counter')].some((t) => /^[1-9][\d.]*k? pkt\/s/.test(t.textContent ?? '')), { timeout: 15_000, polling: 200 });
          } finally {
            clearInterval(keep);
          }
        });

      await page.select('#trace-from', 'host');
      await page.select('#trace-to', 'host');
      await page.$eval('#trace-port', (e, p) => ((e as HTMLInputElement).value = String(p)), PORT);
      await page.click('#trace button[type=submit]');
      await page.waitForFunction(() => document.body.dataset.traceEnd !== undefined, { timeout: 60_000 });
      expect(await page.evaluate(() => document.body.dataset.traceEnd)).toBe('delivered');
      const portNode = await page.$eval('g.hop[data-id^="port_"]', (g) => g.getAttribute('data-id'));
      expect(portNode).toBe(`port_0_0_0_0_${PORT}_tcp`);
      expect(await page.$eval('#hops', (l) => l.textContent)).toMatch(/DNAT 127\.0\.0\.1:\d+ → 172\.\d+\.\d+\.2:80/);
      expect(await page.$$eval('g.hop[data-id^="if_web_"]', (g) => g.length)).toBeGreaterThan(0);
      await screenshot(page, 'demo-trace');

      await page.$eval('g.cluster[data-id="cluster_ctr_client"]', (g) => (g as SVGGElement).focus());
      expect(await page.evaluate(() => document.activeElement?.getAttribute('data-id'))).toBe('cluster_ctr_client');
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.querySelector('#details')?.textContent?.includes('WEBALIAS_PORT_80_TCP_ADDR'), { timeout: 15_000 });
      expect(await page.$eval('#details', (d) => d.textContent)).toMatch(/webalias web/);
      await page.close();
    } finally {
      ui?.proc.kill('SIGINT');
      await ui?.proc;
      await cli(['down', '-q', '-f', file]);
    }
  });

  it('draws a two-network icc:false lab', async () => {
    const lab = uniqueLab();
    const file = join(dir, `${lab}.yaml`);
    writeFileSync(
      file,
      `name: ${lab}\nnetworks:\n  front: { icc: false }\n  back: { icc: false }\ncontainers:\n  app: { networks: [front, back], expose: [80], command: [netlab, serve, --port, "80"] }\n  db: { networks: [back], expose: [5432] }\n  web: { networks: [front], links: [app] }\n`,
    );
    let ui: Awaited<ReturnType<typeof startUi>> | undefined;
    try {
      expect((await cli(['up', '-q', '-f', file])).exitCode).toBe(0);
      ui = await startUi(['-l', lab]);
      const page = await openPage(ui.url);
      const text = await svgText(page);
      for (const s of ['container app', 'container db', 'container web', 'network front, icc off', 'network back, icc off']) expect(text).toContain(s);
      await screenshot(page, 'icc-off');
      await page.close();
    } finally {
      ui?.proc.kill('SIGINT');
      await ui?.proc;
      await cli(['down', '-q', '-f', file]);
    }
  });

  it('draws the simulated multi-host example with its tunnels', async () => {
    const lab = uniqueLab();
    const file = join(dir, `${lab}-mh.yaml`);
    const example = (await import('node:fs')).readFileSync(join(ROOT, 'examples/multihost.yaml'), 'utf8').replace(/^name: .*$/m, `name: ${lab}`);
    writeFileSync(file, example);
    let ui: Awaited<ReturnType<typeof startUi>> | undefined;
    try {
      const up = await cli(['up', '-q', '--simulate', '-f', file], { timeoutMs: 50_000 });
      expect(up.exitCode, up.all).toBe(0);
      ui = await startUi(['-l', lab]);
      const page = await openPage(ui.url);
      const text = await svgText(page);
      expect(text).toContain('host vm1');
      expect(text).toContain('host vm2');
      expect(text).toMatch(/VXLAN VNI \d+/);
      await screenshot(page, 'multihost');
      await page.close();
    } finally {
      ui?.proc.kill('SIGINT');
      await ui?.proc;
      await cli(['down', '-q', '-f', file], { timeoutMs: 50_000 });
    }
  });

  it('binds loopback only unless --listen, serves only its own files, and stops on Ctrl-C', async () => {
    const refused = await cli(['ui', '--address', '0.0.0.0', '--port', '0']);
    expect(refused.exitCode).toBe(2);
    expect(refused.all).toMatch(/--address: refusing to serve on 0\.0\.0\.0.*--listen/);
    const ui = await startUi(['--all']);
    try {
      expect(ui.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      for (const path of ['/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc%2fpasswd', '//etc/passwd', '/app.js/../../../../etc/passwd', '/static/../package.json']) {
        const r = await execa('curl', ['-s', '--path-as-is', '-o', '/dev/null', '-w', '%{http_code}', `${ui.url.replace(/\/$/, '')}${path}`], { reject: false });
        expect(r.stdout, path).toBe('404');
      }
      const page = await execa('curl', ['-s', ui.url]);
      expect(page.stdout).toContain('<title>netlab ui</title>');
    } finally {
      ui.proc.kill('SIGINT');
    }
    const r = await ui.proc;
    expect(r.exitCode).toBe(0);
    expect(r.all).toContain('netlab ui: stopped');
  });
});

/**
 * docs/tutorial.md cannot rot: every `sh` block runs, in order, in one folder, as a reader
 * types it (with `netlab` being this build), and the `text` block that follows a `sh` block
 * must appear in its output: each line, spaces squeezed, inside an output line, in order.
 * The tutorial's lab `seedlab` gets a unique name per run.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, uniqueLab } from '../helpers/kernel.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

const TUTORIAL = new URL('../../docs/tutorial.md', import.meta.url);

interface Block {
  heading: string;
  script: string;
  expected?: string[];
}

/** The `sh` blocks of a Markdown text, each with the `text` block right after it, if any. */
function shellBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  let heading = '';
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('#')) heading = line.replace(/^#+\s*/, '');
    const fence = /^```(\w*)\s*$/.exec(line);
    if (!fence || !['sh', 'text'].includes(fence[1]!)) continue;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]!);
    if (fence[1] === 'sh') blocks.push({ heading, script: `${body.join('\n')}\n` });
    else if (blocks.length > 0 && blocks.at(-1)!.expected === undefined) blocks.at(-1)!.expected = body;
  }
  return blocks;
}

/**
 * Spaces squeezed, and what the tutorial tells the reader differs per machine as N: a link's
 * device group (a hash of the lab's name, which the test changes), the peer index after `@if`,
 * a namespace's id in `ip netns list`.
 */
const squeeze = (s: string) =>
  s
    .replace(/\s+/g, ' ')
    .replace(/\bgroup \d+\b/g, 'group N')
    .replace(/@if\d+\b/g, '@ifN')
    .replace(/\(id: \d+\)/g, '(id: N)')
    .trim();

/** A trace's probe source port, random, as N: in the output and in the tutorial's copy of it (the page says so). */
const probePortAsN = (lines: string[]) => {
  const ports = lines.flatMap((l) => [...l.matchAll(/probe source port (\d+)/g)].map((m) => m[1]!));
  return lines.map((l) => ports.reduce((t, p) => t.replace(new RegExp(`\\b${p}\\b`, 'g'), 'N'), l));
};

const lab = uniqueLab();
const dir = tempDir('tutorial');
const bin = tempDir('bin');
writeFileSync(join(bin, 'netlab'), `#!/bin/sh\nexec ${process.execPath} ${CLI} "$@"\n`);
chmodSync(join(bin, 'netlab'), 0o755);
const blocks = shellBlocks(readFileSync(TUTORIAL, 'utf8').replace(/\bseedlab\b/g, lab));

afterAll(async () => {
  await execa(join(bin, 'netlab'), ['down', '-q', '-l', lab], { cwd: dir, reject: false });
  // Step 7's multi-host lab, should its own down not have run.
  await execa(join(bin, 'netlab'), ['down', '-q', '-l', `${lab}-mh`], { cwd: dir, reject: false });
  // Step 12's IPv6 lab, likewise.
  await execa(join(bin, 'netlab'), ['down', '-q', '-l', `${lab}-v6`], { cwd: dir, reject: false });
  removeTempDir(dir);
  removeTempDir(bin);
});

describe('docs/tutorial.md', () => {
  it('has shell blocks for every step, most with the output they show', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(8);
    expect(blocks.filter((b) => b.expected).length).toBeGreaterThanOrEqual(8);
  });

  for (const [n, b] of blocks.entries()) {
    it(`runs block ${n + 1} (${b.heading})`, async () => {
      const r = await execa('bash', ['-e', '-o', 'pipefail', '-c', b.script], { cwd: dir, reject: false, all: true, env: { PATH: `${bin}:${process.env.PATH}`, NETLAB_LOG_LEVEL: 'warn' } });
      expect(r.exitCode, `${b.script}\n---\n${r.all}`).toBe(0);
      const out = probePortAsN(r.stdout.split('\n')).map(squeeze);
      let at = 0;
      for (const want of probePortAsN(b.expected ?? [])
        .map(squeeze)
        .filter(Boolean)) {
        const found = out.findIndex((line, i) => i >= at && line.includes(want));
        expect(found, `expected "${want}" in the output of:\n${b.script}\n---\n${r.stdout}`).toBeGreaterThanOrEqual(0);
        at = found + 1;
      }
    });
  }
});

/** The state file's text (stamped, or checked by the schema), the identity of a lab's file, and the words status and progress use. */
import { describe, expect, it } from 'vitest';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTopology, DEMO_FILE } from '../../src/topology/load.js';
import { allocationOf, fillHostsFiles, resolveLab } from '../../src/model/lab.js';
import { joinPieces } from '../../src/model/etcfiles.js';
import { desiredState } from '../../src/plan/desired.js';
import { diff } from '../../src/plan/diff.js';
import { emptyState } from '../../src/plan/state.js';
import { labJson, parseStateText, stateText, type StateFile } from '../../src/engine/state.js';
import { labSource, sameSource } from '../../src/engine/labsource.js';
import { changeWords } from '../../src/engine/status.js';
import { describeStep } from '../../src/cli/progress.js';
import { emptyHostContext } from '../helpers/context.js';
import { readFileSync } from 'node:fs';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

const demo = () => resolveLab(parseTopology(readFileSync(DEMO_FILE, 'utf8'), { source: '<demo>', defaultName: 'demo' }), emptyHostContext);
const stateOf = (): StateFile => {
  const lab = demo();
  return {
    version: 1,
    lab: lab.name,
    source: '<demo>',
    allocation: allocationOf(lab),
    planned: { netns: ['netlab-demo-web'], links: [] },
    started: { web: { pid: 42, specHash: 'h' } },
    resolved: lab,
    updatedAt: '',
  };
};

describe('the state file', () => {
  it('is trusted as written by this build, and checked by the schema once edited', async () => {
    const text = stateText(stateOf());
    const read = await parseStateText(text);
    expect(read).toMatchObject({ trusted: true, state: { lab: 'demo', started: { web: { pid: 42 } } } });
    expect(read.state).not.toHaveProperty('check');
    const edited = await parseStateText(text.replace('"pid": 42', '"pid": 43'));
    expect(edited).toMatchObject({ trusted: false, state: { started: { web: { pid: 43 } } } });
    expect(edited.state).not.toHaveProperty('check');
    // Written again, the edited state is stamped anew.
    expect((await parseStateText(stateText(edited.state!))).trusted).toBe(true);
  });

  it('leaves out the /etc/hosts texts and their pieces, which fillHostsFiles rebuilds from the rest', async () => {
    const s = stateOf();
    const text = stateText(s);
    expect(s.resolved.containers.every((c) => c.hostsPieces !== undefined)).toBe(true);
    expect(text).not.toContain('hostsPieces');
    for (const c of s.resolved.containers) expect(text).not.toContain(JSON.stringify(c.files.hosts));
    const read = (await parseStateText(text)).state!;
    fillHostsFiles(read.resolved.containers, emptyHostContext.ipv6);
    expect(read.resolved.containers.map((c) => c.files.hosts)).toEqual(s.resolved.containers.map((c) => c.files.hosts));
    expect(read.resolved.containers.map((c) => joinPieces(c.hostsPieces!))).toEqual(s.resolved.containers.map((c) => c.files.hosts));
  });

  it("gives a stamped file's lab as labJson wrote it, and keeps an env variable named hosts", async () => {
    const s = stateOf();
    const web = s.resolved.containers.find((c) => c.name === 'web')!;
    web.ownEnv = { hosts: 'a b', HOSTS: 'c' };
    web.env = [...web.env, ['hosts', 'a b']];
    const read = await parseStateText(stateText(s));
    expect(read.resolvedJson).toBe(labJson(s.resolved));
    expect(labJson(read.state!.resolved)).toBe(read.resolvedJson);
    expect(read.state!.resolved.containers.find((c) => c.name === 'web')!.ownEnv).toEqual({ hosts: 'a b', HOSTS: 'c' });
    // Edited (not stamped), the lab is compared as written anew.
    expect((await parseStateText(stateText(s).replace('"pid": 42', '"pid": 43'))).resolvedJson).toBeUndefined();
  });

  it.each([
    ['a pid that is not a number', (t: string) => t.replace('"pid": 42', '"pid": "42"'), 'started.web.pid'],
    ['a container without its namespace', (t: string) => t.replace(/"netns":"[^"]+",/, ''), 'resolved.containers[0].netns'],
    ['no planned names', (t: string) => t.replace(/"planned": \{[^}]*\},/, ''), 'planned'],
    ['an array', () => '[]', '(top level)'],
    ['cut short', (t: string) => t.slice(0, 200), 'it is not JSON'],
    ['another version', (t: string) => t.replace('"version": 1', '"version": 2'), 'state version 2'],
  ])('is broken with %s, and says where', async (_what, breakIt, where) => {
    const r = await parseStateText(breakIt(stateText(stateOf())));
    expect(r.state).toBeUndefined();
    expect(r.problem).toContain(where);
  });
});

describe("a lab's file", () => {
  it('is known by its real path; the demo by <demo>; an older state that kept a relative path stops nothing', () => {
    const dir = tempDir('src');
    try {
      mkdirSync(join(dir, 'a'));
      writeFileSync(join(dir, 'a', 'netlab.yaml'), 'containers: { a: {} }\n');
      symlinkSync(join(dir, 'a'), join(dir, 'b'));
      const topo = parseTopology('containers: { a: {} }\n', { source: 'netlab.yaml', defaultName: 'x' });
      const viaLink = labSource({ cwd: join(dir, 'b') }, topo);
      expect(viaLink).toBe(labSource({ file: join(dir, 'a', 'netlab.yaml') }, topo));
      expect(viaLink.startsWith('/')).toBe(true);
      expect(labSource({}, { ...topo, source: '<demo>' })).toBe('<demo>');
      expect(sameSource('netlab.yaml', viaLink)).toBe(true);
      expect(sameSource('/elsewhere/netlab.yaml', viaLink)).toBe(false);
      expect(sameSource('<demo>', viaLink)).toBe(false);
    } finally {
      removeTempDir(dir);
    }
  });
});

describe('words', () => {
  it('status names each kind of change in words, singular or plural', () => {
    const ops = diff(desiredState(demo(), { selfArgv: ['/usr/bin/node', '/opt/netlab/cli.js'] }), emptyState('demo'));
    const words = changeWords(ops);
    expect(words).toContain('1 container command to start');
    expect(words).toContain('2 veth pairs to make');
    expect(words).toContain('1 bridge to make');
    expect(words.join(' ')).not.toMatch(/\b[a-z]+\.[a-z]+\b/);
  });

  it("progress names the firewall's own program", () => {
    const ops = diff(desiredState({ ...demo(), firewall: 'nftables' }, { selfArgv: ['/usr/bin/node', '/opt/netlab/cli.js'] }), emptyState('demo'));
    const fw = ops.find((o) => o.kind === 'firewall.apply')!;
    expect(describeStep([fw])).toMatch(/^firewall: \d+ rules in one nft transaction$/);
  });
});

import { describe, expect, it } from 'vitest';
import { lsTable, psTable } from '../../src/cli/format.js';
import type { ContainerRow } from '../../src/engine/query.js';

const row = (name: string, statusText: string, ip: string, ports: string[] = [], links: string[] = []): ContainerRow => ({
  name,
  status: 'running',
  statusText,
  ip,
  ports,
  portObjects: [],
  links,
  netns: `netlab-x-${name}`,
});
const widest = (t: string) => Math.max(...t.split('\n').map((l) => l.length));

describe('ps in 80 columns, as docker ps keeps its STATUS words whole', () => {
  it('fits the demo lab and the Apache lesson whole, in their widest words', () => {
    for (const web of [row('web', 'Up Less than a second', '172.17.0.2', ['0.0.0.0:8080->80/tcp']), row('web', 'Up 3 minutes (healthy)', '10.234.2.2', ['0.0.0.0:8080->80/tcp'])]) {
      const t = psTable([web, row('client', 'up', '172.17.0.3', [], ['web:webalias'])]);
      expect(widest(t)).toBeLessThanOrEqual(80);
      expect(t).not.toContain('…');
      expect(t).toContain('web:webalias');
    }
    const exited = psTable([row('web', 'Exited (137) 5 seconds ago', '172.17.0.2', ['0.0.0.0:8080->80/tcp']), row('client', 'up', '172.17.0.3', [], ['web:webalias'])]);
    expect(widest(exited)).toBeLessThanOrEqual(80);
    expect(exited).toContain('Exited (137) 5 seconds ago');
  });

  it('cuts PORTS and LINKS, the widest first, never NAME, STATUS or IP', () => {
    const rows = [row('client-long', 'Up About a minute (healthy)', '10.103.30.2', ['127.0.0.1:30000-34999->30000-34999/tcp'], ['web:w', 'db:database-alias'])];
    const t = psTable(rows);
    expect(widest(t)).toBeLessThanOrEqual(80);
    expect(t).toMatch(/^client-long {2}Up About a minute \(healthy\) {2}10\.103\.30\.2 {2}127\.0\.0\.1:\S*… {2}web:w\S*…$/m);
    expect(psTable(rows, 80, true)).toContain('127.0.0.1:30000-34999->30000-34999/tcp  web:w,db:database-alias');
    expect(widest(psTable(rows, 120))).toBeGreaterThan(80);
    expect(psTable(rows, 120)).not.toContain('…');
  });

  it('summarises many ports: the first two and how many more; --no-trunc lists them all', () => {
    const ports = ['0.0.0.0:81->81/tcp', '0.0.0.0:83->83/tcp', '0.0.0.0:85->85/tcp', '0.0.0.0:87->87/tcp', '0.0.0.0:89->89/tcp'];
    const lines = psTable([row('web', 'Up 3 minutes', '10.234.2.2', ports)]).split('\n');
    expect(
      lines.slice(1).map((l) =>
        l
          .trim()
          .split(/\s{2,}/)
          .at(-1),
      ),
    ).toEqual(['0.0.0.0:81->81/tcp', '0.0.0.0:83->83/tcp', '+3 more']);
    expect(psTable([row('web', 'Up 3 minutes', '10.234.2.2', ports)], 80, true).split('\n')).toHaveLength(6);
  });
});

describe('ls', () => {
  it('keeps the FILE whole, cutting NETWORKS and PORTS to fit', () => {
    const lab = {
      name: 'lgapache',
      file: '/tmp/lgap/netlab.yaml',
      running: 2,
      total: 2,
      networks: [
        { name: 'n', bridge: 'nlbrfc9978fe', subnet: '10.234.2.0/24' },
        { name: 'm', bridge: 'nlbrd9b416ec', subnet: '10.235.12.0/24' },
      ],
      ports: ['0.0.0.0:21301->80/tcp (web)', '127.0.0.1:21411->80/tcp (web)'],
    };
    const t = lsTable([lab]);
    expect(widest(t)).toBeLessThanOrEqual(80);
    expect(t).toMatch(/ {2}\/tmp\/lgap\/netlab\.yaml$/m);
    expect(t).toContain('…');
  });
});

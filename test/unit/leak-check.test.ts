import { describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { isDemoLabs } from '../helpers/leak-check.js';
import { runId } from '../helpers/run-id.js';
import { isRunTemp, tempLeftovers } from '../helpers/temp-leaks.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

describe('the leak check judges the demo lab by its exact name', () => {
  it("takes the demo lab's objects", () => {
    for (const o of [
      'netns netlab-demo-web',
      '/etc/netns/netlab-demo-client',
      'link nl1a2b3c4d (netlab:demo:web:eth0)',
      'link netlab0 (netlab:demo:net:netlab0)',
      'iptables filter: :NL-demo-FWD - [0:0]',
      'iptables nat: -A POSTROUTING -m comment --comment "netlab:demo" -j NL-demo-POST',
      '/run/netlab/demo',
      'mount /run/netlab/demo/uts/web',
      'DNS resolver NETLAB_DNS=demo (pid 42)',
    ])
      expect(isDemoLabs(o), o).toBe(true);
  });

  it('leaves labs whose names only contain "demo" to the runs that made them', () => {
    for (const o of [
      'netns netlab-demo2-web',
      'netns netlab-mydemo-web',
      'netns netlab-demo-x-web',
      '/etc/netns/netlab-demo-x-client',
      'link nl1a2b3c4d (netlab:demo2:web:eth0)',
      'link nl1a2b3c4d (netlab:demo-x:web:eth0)',
      'iptables filter: :NL-demo-x-FWD - [0:0]',
      'iptables filter: :NL-mydemo-FWD - [0:0]',
      'iptables nat: -A POSTROUTING -m comment --comment "netlab:demo-x" -j NL-demo-x-POST',
      '/run/netlab/demo2',
      'mount /run/netlab/demo-x/uts/web',
      'DNS resolver NETLAB_DNS=demo-x (pid 42)',
      'link netlab0x (netlab:other:net:netlab0x)',
    ])
      expect(isDemoLabs(o), o).toBe(false);
  });
});

describe("the leak check judges temp files by the run's id in their names", () => {
  it("takes this run's netlab* names in the temp folder and netlab-test-* in /var/lib, no other run's", () => {
    for (const [parent, name, ours] of [
      [tmpdir(), 'netlab-test-t1a2b-dns-XyZ123', true],
      [tmpdir(), 'netlab-t1a2b0c0d0e.yaml', true],
      ['/var/lib', 'netlab-test-t1a2b-etc-Ab12Cd', true],
      [tmpdir(), 'netlab-test-t3c4d-dns-XyZ123', false],
      [tmpdir(), 'netlab-dns-XyZ123', false],
      [tmpdir(), 'other-t1a2b', false],
      ['/var/lib', 'netlab-t1a2b', false],
    ] as const)
      expect(isRunTemp(parent, name, 't1a2b'), `${parent}/${name}`).toBe(ours);
  });

  it('lists a folder of the temp helper until it is removed', () => {
    const dir = tempDir('seen');
    expect(dir).toContain(`netlab-test-${runId()}-seen-`);
    expect(tempLeftovers(runId())).toContain(`temp ${dir}`);
    removeTempDir(dir);
    expect(tempLeftovers(runId())).not.toContain(`temp ${dir}`);
  });
});

import { describe, expect, it } from 'vitest';
import { ovsTimeoutArgs } from '../../src/kernel/ovs.js';

describe('ovsTimeoutArgs', () => {
  it('waits 10 s for the switch by default', () => {
    expect(ovsTimeoutArgs({})).toEqual(['--timeout=10']);
    expect(ovsTimeoutArgs({ NETLAB_OVS_TIMEOUT: '' })).toEqual(['--timeout=10']);
  });
  it('takes NETLAB_OVS_TIMEOUT for a slow machine', () => {
    expect(ovsTimeoutArgs({ NETLAB_OVS_TIMEOUT: '300' })).toEqual(['--timeout=300']);
  });
  it('refuses a value that is not a whole number of seconds, naming the variable', () => {
    for (const bad of ['0', '-5', '1.5', '10s', 'abc']) {
      expect(() => ovsTimeoutArgs({ NETLAB_OVS_TIMEOUT: bad })).toThrow(/NETLAB_OVS_TIMEOUT: "/);
    }
  });
});

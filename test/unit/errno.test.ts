import { describe, expect, it } from 'vitest';
import { ABSENT, GONE, ifErrno, onErrno } from '../../src/kernel/errno.js';
import { readdir } from 'node:fs/promises';

describe('a catch names the errno it expects', () => {
  it('gives the value for an expected code', () => {
    expect(ifErrno(Object.assign(new Error('x'), { code: 'ESRCH' }), GONE, 'gone')).toBe('gone');
  });
  it('throws anything else again: another code, a bug without a code', () => {
    const eacces = Object.assign(new Error('x'), { code: 'EACCES' });
    expect(() => ifErrno(eacces, ABSENT, 1)).toThrow(eacces);
    const bug = new TypeError('cannot read properties of undefined');
    expect(() => ifErrno(bug, ABSENT, 1)).toThrow(bug);
    expect(() => ifErrno(undefined, ABSENT, 1)).toThrow();
  });
  it('serves a promise: a missing folder lists as empty, a file in its place does not', async () => {
    expect(await readdir('/nonexistent-netlab-folder').catch(onErrno(ABSENT, []))).toEqual([]);
    await expect(readdir('/etc/hostname').catch(onErrno(ABSENT, []))).rejects.toMatchObject({ code: 'ENOTDIR' });
  });
});

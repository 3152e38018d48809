/**
 * A catch names the errno codes it expects; anything else (a bug, a real failure) goes on up.
 * LibcError (native/libc.ts) and Node's errors both carry the code as `code`.
 */

/** The file or folder is not there. */
export const ABSENT = ['ENOENT'] as const;
/** A process (its /proc entry or its pid) is gone, or not this process's to see (another user's, a kernel thread's, another pid namespace's). */
export const GONE = ['ENOENT', 'ESRCH', 'EACCES', 'EPERM'] as const;

/** `value` when `e` carries one of `codes`; otherwise `e` is thrown again. */
export function ifErrno<T>(e: unknown, codes: readonly string[], value: T): T {
  const code = (e as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && codes.includes(code)) return value;
  throw e;
}

/** The same for a promise: `readdir(dir).catch(onErrno(ABSENT, []))`. */
export const onErrno =
  <T>(codes: readonly string[], value: T) =>
  (e: unknown): T =>
    ifErrno(e, codes, value);

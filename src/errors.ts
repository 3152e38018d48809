/** Exit codes of the CLI: 0 done, 1 failed, 2 bad input, 130 interrupted (Ctrl-C). */
export const EXIT_FAILED = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_INTERRUPTED = 130;

/** Base of every error netlab raises on purpose; anything else is a bug. */
export class NetlabError extends Error {
  readonly exitCode: number = EXIT_FAILED;
}

/** One problem found in the topology, tied to its place in the file. */
export interface InputProblem {
  /** YAML path such as `containers.web.publish[0]`. */
  path: string;
  message: string;
  /** 1-based line in the file, when known. */
  line?: number;
}

/** Bad input: a topology, flag or name that netlab refuses before changing anything. */
export class InputError extends NetlabError {
  override readonly exitCode = EXIT_BAD_INPUT;
  constructor(
    readonly problems: InputProblem[],
    readonly file?: string,
  ) {
    super(problems.map((p) => formatProblem(p, file)).join('\n'));
  }
}

export function formatProblem(p: InputProblem, file?: string): string {
  const where = file ? `${file}${p.line ? `:${p.line}` : ''}: ` : p.line ? `line ${p.line}: ` : '';
  return `${where}${p.path ? `${p.path}: ` : ''}${p.message}`;
}

/** The host holds something that stops the lab: a foreign object with netlab's name, a port in use. */
export class ConflictError extends NetlabError {
  override readonly exitCode = EXIT_BAD_INPUT;
}

/** A kernel call or program failed. */
export class KernelError extends NetlabError {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

/** Ctrl-C stopped a run between two steps; the message says what state the lab is in. */
export class InterruptedError extends NetlabError {
  override readonly exitCode = EXIT_INTERRUPTED;
}

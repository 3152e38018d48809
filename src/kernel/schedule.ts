/**
 * Runs a step graph (plan/steps.ts): every step starts once the steps it waits for are done. The
 * first failure stops the run: its dependents and every step not yet started stay undone, the
 * steps in hand finish, and that failure is thrown.
 */
import type { Step } from '../plan/steps.js';

/** The run was interrupted between two steps; `done` of `total` changes were applied. */
export class ApplyInterrupted extends Error {
  constructor(
    readonly done: number,
    readonly total: number,
  ) {
    super(`interrupted after ${done} of ${total} changes`);
  }
}

/** Thrown for a step left undone because the run stopped; never the error the run throws. */
class Stopped extends Error {}

export async function runSteps(steps: Step[], run: (step: Step) => Promise<void>, signal?: AbortSignal): Promise<void> {
  const total = steps.reduce((n, s) => n + s.ops.length, 0);
  let done = 0;
  let failure: { error: unknown } | undefined;
  const finished: Promise<void>[] = [];
  for (const step of steps) {
    finished[step.id] = Promise.all(step.after.map((a) => finished[a])).then(async () => {
      if (failure) throw new Stopped();
      try {
        if (signal?.aborted) throw new ApplyInterrupted(done, total);
        await run(step);
        done += step.ops.length;
      } catch (error) {
        failure ??= { error };
        throw error;
      }
    });
  }
  await Promise.allSettled(finished);
  if (failure) throw failure.error;
}

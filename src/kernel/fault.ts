/**
 * Fault points inside an Op, for the crash tests (the points between Ops are apply.ts's, where a step ends at the fault):
 * NETLAB_FAULT_AFTER=netns.file kills the run when a namespace's file is made but no
 * namespace is bound on it yet.
 */
export const NETNS_FILE_FAULT = 'netns.file';

/** SIGKILLs this process when the crash test asks for a fault at `point`. */
export function faultPoint(point: string): void {
  if (process.env.NETLAB_FAULT_AFTER === point) process.kill(process.pid, 'SIGKILL');
}

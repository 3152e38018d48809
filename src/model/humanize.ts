/** Docker's words for a container's state (docker ps STATUS), from go-units' HumanDuration. */

export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.floor(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

/** `Up 3 minutes`, `Exited (1) 5 seconds ago`, `Restarting (1) 2 seconds ago`, as docker ps prints them. */
export function dockerStatus(state: { Status: string; ExitCode: number; StartedAt: string; FinishedAt: string }, now = Date.now()): string {
  const since = (t: string) => humanDuration(Math.max(0, now - Date.parse(t)));
  if (state.Status === 'running') return `Up ${since(state.StartedAt)}`;
  if (state.Status === 'restarting') return `Restarting (${state.ExitCode}) ${since(state.FinishedAt)} ago`;
  if (state.FinishedAt.startsWith('0001-')) return 'Created';
  return `Exited (${state.ExitCode}) ${since(state.FinishedAt)} ago`;
}

/** Sweeps: one experiment per trial of a template's parameters, judged by a metric. */
import { Result, Sweep, SubmarineClient } from '../api';

export function listSweeps(
  client: SubmarineClient
): Promise<Result<'listSweeps'>> {
  return client.call('sweep');
}

export function getSweep(
  client: SubmarineClient,
  name: string
): Promise<Result<'getSweep'>> {
  return client.call(`sweep/${encodeURIComponent(name)}`);
}

/** Stop its running trials and its waiting ones. */
export function stopSweep(
  client: SubmarineClient,
  name: string
): Promise<Result<'stopSweep'>> {
  return client.call(`sweep/${encodeURIComponent(name)}/stop`, {
    method: 'POST'
  });
}

export function isRunning(sweep: Sweep): boolean {
  return sweep.status === 'Running';
}

/** `loss (min)`, or null without an objective. */
export function objectiveOf(sweep: Sweep): string | null {
  const { objective } = sweep;
  return objective ? `${objective.metric} (${objective.goal ?? 'min'})` : null;
}

/** Trials that have ended, of all. */
export function progress(sweep: Sweep): string {
  const ended = sweep.trials.filter(t =>
    ['Succeeded', 'Failed', 'Stopped', 'Deleted'].includes(t.status)
  ).length;
  return `${ended} of ${sweep.trials.length} trials ended`;
}

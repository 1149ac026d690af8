import { Experiment, Replica } from './api';

/**
 * The replica whose log a detail view opens with: the one that failed (when
 * several did, the one the status message names), else the first.
 */
export function firstReplica(experiment: Experiment): Replica | undefined {
  const failed = experiment.replicas.filter(r => r.state === 'Failed');
  const named = failed.find(r =>
    (experiment.statusMessage ?? '').includes(r.name)
  );
  return named ?? failed[0] ?? experiment.replicas[0];
}

/**
 * Tells the user when an experiment launched from this Lab ends: a JupyterLab
 * notification (success or error) with a button that opens it in the panel.
 *
 * "Launched from this Lab" is: created through the panel's form, or seen
 * unfinished (Accepted, Created, Running) by this Lab page since it loaded, which
 * takes in what a notebook of this Lab submitted with `%submarine`. One already
 * finished when first seen is never announced.
 */
import { Notification } from '@jupyterlab/apputils';

import { Experiment, isTerminal } from './api';
import { duration } from './common';

/**
 * How long a success (or a stop) stays on screen, in ms; a failure stays until
 * dismissed.
 */
export const SUCCESS_AUTO_CLOSE_MS = 15000;
/** The longest part of a status message a notification quotes. */
const QUOTE_CHARS = 160;

/**
 * The gist of a status message: its first line, without the clauses that only
 * announce what follows (`; last lines:`), replicas by their short names.
 */
function gist(experiment: Experiment): string {
  const prefix = `${experiment.experimentId.replace(/_/g, '-')}-`;
  const clauses = (experiment.statusMessage ?? '').split('\n')[0].split('; ');
  while (clauses.length > 1 && clauses[clauses.length - 1].endsWith(':')) {
    clauses.pop();
  }
  const line = clauses
    .join('; ')
    .replace(/:$/, '')
    .split(prefix)
    .join('')
    .trim();
  return line.length > QUOTE_CHARS ? `${line.slice(0, QUOTE_CHARS)}…` : line;
}

export class OutcomeNotifier {
  constructor(private readonly open: (experimentId: string) => void) {}

  /** Experiments awaited: announced when they end. */
  get watching(): boolean {
    return this.awaited.size > 0;
  }

  /** An experiment this Lab just created: announced when it ends, however soon. */
  launched(experimentId: string, target: string | null = null): void {
    this.awaited.set(experimentId, target);
  }

  /** An experiment the user stopped here: nothing to announce. */
  forget(experimentId: string): void {
    this.awaited.delete(experimentId);
  }

  /**
   * A fresh list of every experiment (with `target`: of every one on that
   * target): announce those awaited that ended.
   */
  observe(experiments: readonly Experiment[], target?: string): void {
    const present = new Set<string>();
    for (const experiment of experiments) {
      const id = experiment.experimentId;
      present.add(id);
      if (!isTerminal(experiment.status)) {
        this.awaited.set(id, experiment.target);
      } else if (this.awaited.delete(id)) {
        this.announce(experiment);
      }
    }
    // Deleted meanwhile: nothing to announce. A list of one target says
    // nothing of the experiments elsewhere (or not yet seen anywhere).
    this.awaited.forEach(
      (on, id) =>
        present.has(id) ||
        (target !== undefined && on !== target) ||
        this.awaited.delete(id)
    );
  }

  private announce(experiment: Experiment): void {
    const id = experiment.experimentId;
    const took = duration(experiment, Date.now());
    const actions = [
      {
        label: 'Open',
        caption: `Show ${experiment.name} in the Submarine panel`,
        callback: () => this.open(id)
      }
    ];
    if (experiment.status === 'Succeeded') {
      Notification.success(
        `Experiment ${experiment.name} succeeded${took ? ` in ${took}` : ''}.`,
        { autoClose: SUCCESS_AUTO_CLOSE_MS, actions }
      );
    } else if (experiment.status === 'Stopped') {
      Notification.info(`Experiment ${experiment.name} was stopped.`, {
        autoClose: SUCCESS_AUTO_CLOSE_MS,
        actions
      });
    } else {
      const why = gist(experiment);
      Notification.error(
        `Experiment ${experiment.name} ${experiment.status.toLowerCase()}${why ? `: ${why}` : '.'}`,
        { autoClose: false, actions }
      );
    }
  }

  /** The experiments awaited, with their target (null: not seen yet). */
  private readonly awaited = new Map<string, string | null>();
}

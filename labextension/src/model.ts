import { ApiError, Experiment, ExperimentSpec, SubmarineClient } from './api';
import type { IRerun } from './iterate/rerun';
import { OutcomeNotifier } from './notify';
import { BackoffPoller, IBackoff } from './poller';

export type View =
  | { kind: 'list' }
  | { kind: 'detail'; id: string }
  | { kind: 'create'; from?: ExperimentSpec; rerun?: IRerun }
  | { kind: 'compare'; ids: string[] }
  | { kind: 'templates' }
  | { kind: 'template'; name: string }
  | { kind: 'sweeps' }
  | { kind: 'sweep'; name: string };

export const LIST_BACKOFF: IBackoff = {
  min: 1000,
  max: 15000,
  factor: 1.5,
  hidden: 60000,
  // While an experiment launched here runs, its end is announced within 5 s.
  urgent: 5000
};

/**
 * The panel's state: the experiments (one polled list feeds both the list and
 * the detail view), the last polling error and which view is shown.
 */
export class PanelModel {
  constructor(readonly client: SubmarineClient = new SubmarineClient()) {
    this.poller = new BackoffPoller(() => this.poll(), LIST_BACKOFF);
    this.poller.refresh();
  }

  readonly poller: BackoffPoller;
  experiments: Experiment[] = [];
  loaded = false;
  error: string | null = null;
  view: View = { kind: 'list' };
  /** Bumped by every show(), so showing a view again starts it afresh. */
  viewSerial = 0;
  /** The list's filters, kept while the detail or the form is shown. */
  filter = { status: '', text: '' };
  /** Bumped on every change, for useSyncExternalStore. */
  version = 0;
  /** The experiments ticked in the list, for the compare view, in ticking order. */
  selected: string[] = [];
  /** Announces the end of experiments launched from this Lab. */
  readonly outcomes = new OutcomeNotifier(id => {
    this.show({ kind: 'detail', id });
    this.reveal();
  });
  /** Whether the panel is out of sight (collapsed): its views' polling slows down. */
  hidden = false;
  /** Bumped by every refresh(), so views that fetch their own data fetch again. */
  refreshes = 0;
  /** Brings the panel into view (the app's shell sets it). */
  reveal: () => void = () => undefined;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getVersion = (): number => this.version;

  show(view: View): void {
    this.view = view;
    this.viewSerial++;
    this.emit();
  }

  setFilter(change: Partial<PanelModel['filter']>): void {
    this.filter = { ...this.filter, ...change };
    this.emit();
  }

  toggleSelected(id: string): void {
    this.selected = this.selected.includes(id)
      ? this.selected.filter(s => s !== id)
      : [...this.selected, id];
    this.emit();
  }

  find(id: string): Experiment | undefined {
    return this.experiments.find(e => e.experimentId === id);
  }

  refresh(): void {
    this.refreshes++;
    this.poller.refresh();
    this.emit();
  }

  setHidden(hidden: boolean): void {
    this.hidden = hidden;
    this.poller.ownerHidden = hidden;
    this.emit();
  }

  dispose(): void {
    this.poller.dispose();
    this.listeners.clear();
  }

  /** One tick: fetch the list; true when anything differs from last time. */
  private async poll(): Promise<boolean> {
    let snapshot: string;
    try {
      const experiments = await this.client.list();
      this.outcomes.observe(experiments);
      this.poller.urgent = this.outcomes.watching;
      snapshot = JSON.stringify(experiments);
      if (snapshot !== this.snapshot || this.error !== null || !this.loaded) {
        this.experiments = experiments;
        this.error = null;
        this.loaded = true;
        const present = new Set(experiments.map(e => e.experimentId));
        this.selected = this.selected.filter(id => present.has(id));
      } else {
        return false;
      }
    } catch (error) {
      const message = error instanceof ApiError ? error.message : String(error);
      if (message === this.error) {
        return false;
      }
      this.error = message;
      snapshot = this.snapshot;
    }
    this.snapshot = snapshot;
    this.emit();
    return true;
  }

  private emit(): void {
    this.version++;
    this.listeners.forEach(listener => listener());
  }

  private listeners = new Set<() => void>();
  private snapshot = '';
}

import {
  ApiError,
  Experiment,
  ExperimentSpec,
  SubmarineClient,
  Target
} from './api';
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
/** Experiments read per page as the list scrolls (newest first). */
export const PAGE_SIZE = 100;
/** The most a request reads when the pages read so far are read again (the API's limit). */
const REREAD_PAGE = 1000;

/**
 * The panel's state: the experiments (one polled list feeds both the list and
 * the detail view), the last polling error and which view is shown. The list
 * is read a page at a time as it scrolls; each poll asks for the first page
 * with its ETag, and only when that changed reads again the pages read so far.
 */
export class PanelModel {
  constructor(readonly client: SubmarineClient = new SubmarineClient()) {
    this.poller = new BackoffPoller(() => this.poll(), LIST_BACKOFF);
    this.poller.refresh();
    void this.loadTargets();
  }

  readonly poller: BackoffPoller;
  /** The pages read so far, newest first. */
  experiments: Experiment[] = [];
  /** The `continue` token of the page after them; null when every one is read. */
  more: string | null = null;
  loaded = false;
  error: string | null = null;
  view: View = { kind: 'list' };
  /** Bumped by every show(), so showing a view again starts it afresh. */
  viewSerial = 0;
  /**
   * The list's filters, kept while the detail or the form is shown: `status`
   * and `text` filter the pages read, `target` ('' for all) asks the server.
   */
  filter = { status: '', text: '', target: '' };
  /** Where experiments can run (`GET /api/v1/target`); empty until read. */
  targets: Target[] = [];
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
    const retarget =
      change.target !== undefined && change.target !== this.filter.target;
    this.filter = { ...this.filter, ...change };
    if (retarget) {
      // Another list: read it from its first page.
      this.experiments = [];
      this.more = null;
      this.loaded = false;
      this.etag = '';
      this.others.clear();
      this.poller.refresh();
    }
    this.emit();
  }

  /** Whether the server has targets besides `local` (the panel then names them). */
  get manyTargets(): boolean {
    return this.targets.length > 1;
  }

  toggleSelected(id: string): void {
    this.selected = this.selected.includes(id)
      ? this.selected.filter(s => s !== id)
      : [...this.selected, id];
    this.emit();
  }

  /**
   * The experiment, from the pages read or, for one beyond them (a lineage link,
   * a notification), read by its id once and kept until the list changes.
   */
  find(id: string): Experiment | undefined {
    const read = this.experiments.find(e => e.experimentId === id);
    if (read || !this.loaded) {
      return read;
    }
    if (!this.others.has(id)) {
      this.others.set(id, 'reading');
      void this.readOne(id);
    }
    const other = this.others.get(id);
    return typeof other === 'object' ? other : undefined;
  }

  /** Whether an experiment beyond the pages read is being read by its id. */
  reading(id: string): boolean {
    return this.others.get(id) === 'reading';
  }

  refresh(): void {
    this.refreshes++;
    this.poller.refresh();
    void this.loadTargets();
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

  /** Read the next page (the list scrolled near its end), one at a time. */
  async loadMore(): Promise<void> {
    const token = this.more;
    if (token === null || this.loadingMore) {
      return;
    }
    this.loadingMore = true;
    const target = this.filter.target;
    try {
      const page = await this.client.page(PAGE_SIZE, token, target);
      if (this.more === token && this.filter.target === target) {
        this.experiments = [...this.experiments, ...page.items];
        this.more = page.next;
      }
    } catch (error) {
      this.error = errorText(error);
    } finally {
      this.loadingMore = false;
      this.emit();
    }
  }

  /**
   * One tick: the first page if its ETag changed (every write changes it), then
   * the rest of the pages read so far; true when anything was read.
   */
  private async poll(): Promise<boolean> {
    const target = this.filter.target;
    try {
      const head =
        this.etag && this.error === null
          ? await this.client.pageIfChanged(PAGE_SIZE, this.etag, target)
          : await this.client.page(PAGE_SIZE, undefined, target);
      if (head === null) {
        return false;
      }
      let { items, next } = head;
      while (next !== null && items.length < this.experiments.length) {
        const wanted = this.experiments.length - items.length;
        const page = await this.client.page(
          Math.min(wanted, REREAD_PAGE),
          next,
          target
        );
        items = [...items, ...page.items];
        next = page.next;
      }
      if (this.filter.target !== target) {
        return false; // the filter changed meanwhile: a newer tick reads that list
      }
      this.outcomes.observe(items, target || undefined);
      this.poller.urgent = this.outcomes.watching;
      this.etag = head.etag ?? '';
      this.experiments = items;
      this.others.clear();
      this.more = next;
      this.error = null;
      this.loaded = true;
      const present = new Set(items.map(e => e.experimentId));
      this.selected = this.selected.filter(id => present.has(id));
    } catch (error) {
      const message = errorText(error);
      if (message === this.error) {
        return false;
      }
      this.error = message;
    }
    this.emit();
    return true;
  }

  /** Read the targets again; the last ones read stay when the server is away. */
  private async loadTargets(): Promise<void> {
    try {
      const targets = await this.client.targets();
      if (JSON.stringify(targets) !== JSON.stringify(this.targets)) {
        this.targets = targets;
        this.emit();
      }
    } catch {
      // the list's own poll reports the server's absence
    }
  }

  private async readOne(id: string): Promise<void> {
    try {
      this.others.set(id, await this.client.get(id));
    } catch {
      this.others.set(id, 'missing'); // deleted (404), or the server is away: the view says so
    }
    this.emit();
  }

  private emit(): void {
    this.version++;
    this.listeners.forEach(listener => listener());
  }

  private listeners = new Set<() => void>();
  /** The ETag of the first page as last read ('' before, or when it had none). */
  private etag = '';
  private loadingMore = false;
  /** Experiments beyond the pages read, by id: read, being read, or not found. */
  private others = new Map<string, Experiment | 'reading' | 'missing'>();
}

function errorText(error: unknown): string {
  return error instanceof ApiError ? error.message : String(error);
}

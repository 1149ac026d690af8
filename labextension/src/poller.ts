export interface IBackoff {
  /** Delay after a tick that saw a change, in ms. */
  min: number;
  /** Longest delay while nothing changes. */
  max: number;
  /** Growth of the delay per unchanged (or failed) tick. */
  factor: number;
  /** Least delay while the browser tab or the panel is hidden. */
  hidden: number;
  /** Longest delay, hidden or not, while `urgent` is set (something is awaited). */
  urgent?: number;
}

/**
 * Calls `tick` repeatedly; the delay grows while ticks report no change and is
 * stretched while the document or the owner is hidden. A change, `refresh()`
 * or the tab becoming visible again polls at once with the shortest delay.
 */
export class BackoffPoller {
  constructor(
    private readonly tick: () => Promise<boolean>,
    private readonly backoff: IBackoff
  ) {
    this.delay = backoff.min;
    document.addEventListener('visibilitychange', this.onVisibility);
  }

  /** The delay before the next tick, in ms (shown for diagnosis). */
  delay: number;

  /** Whether the owner awaits something: delays stay within `backoff.urgent`. */
  urgent = false;

  /** Whether the owner (e.g. a collapsed side panel) is out of sight. */
  set ownerHidden(hidden: boolean) {
    this._ownerHidden = hidden;
    if (!hidden) {
      this.refresh();
    }
  }

  get hidden(): boolean {
    return this._ownerHidden || document.visibilityState === 'hidden';
  }

  /** Poll now and restart the backoff. */
  refresh(): void {
    this.delay = this.backoff.min;
    this.schedule(0);
  }

  dispose(): void {
    this.disposed = true;
    window.clearTimeout(this.timer);
    document.removeEventListener('visibilitychange', this.onVisibility);
  }

  private schedule(ms: number): void {
    window.clearTimeout(this.timer);
    if (!this.disposed) {
      this.timer = window.setTimeout(() => void this.run(), ms);
    }
  }

  private async run(): Promise<void> {
    const generation = ++this.generation;
    let changed = false;
    try {
      changed = await this.tick();
    } catch {
      changed = false;
    }
    if (generation !== this.generation) {
      return; // a refresh() started a newer tick meanwhile
    }
    this.delay = changed
      ? this.backoff.min
      : Math.min(this.delay * this.backoff.factor, this.backoff.max);
    let next = this.hidden
      ? Math.max(this.delay, this.backoff.hidden)
      : this.delay;
    if (this.urgent && this.backoff.urgent !== undefined) {
      next = Math.min(next, this.backoff.urgent);
    }
    this.schedule(next);
  }

  private readonly onVisibility = (): void => {
    if (document.visibilityState === 'visible' && !this._ownerHidden) {
      this.refresh();
    }
  };

  private _ownerHidden = false;
  private disposed = false;
  private generation = 0;
  private timer = 0;
}

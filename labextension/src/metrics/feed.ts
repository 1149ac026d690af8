/**
 * One experiment's metrics as the panel holds them: the first read takes every
 * series (downsampled by the server past `maxPoints`), each later read only the
 * points after the last answer's `cursor`, appended to the series they extend.
 */
import { MetricSeries, Metrics, SubmarineClient } from '../api';

/** Points per series held at most: past it, the next read starts afresh (downsampled). */
export const MAX_HELD_POINTS = 5000;

/** The series' identity: name, replica and source. */
export function seriesKey(series: MetricSeries): string {
  return `${series.name}\u0000${series.replica}\u0000${series.source}`;
}

/** `answer`'s points added to `held` (in place); whether anything changed. */
export function mergeAnswer(
  held: Map<string, MetricSeries>,
  answer: readonly MetricSeries[]
): boolean {
  let changed = false;
  for (const series of answer) {
    const key = seriesKey(series);
    const old = held.get(key);
    if (!old) {
      held.set(key, { ...series });
      changed = true;
      continue;
    }
    if (!series.steps.length && old.count === series.count) {
      continue;
    }
    held.set(key, {
      ...series,
      steps: old.steps.concat(series.steps),
      values: old.values.concat(series.values),
      times: old.times.concat(series.times),
      downsampled: old.downsampled || series.downsampled
    });
    changed = true;
  }
  return changed;
}

export class MetricsFeed {
  constructor(
    readonly client: SubmarineClient,
    readonly experimentId: string
  ) {}

  /** Every series held, in the order the server first listed them. */
  get series(): MetricSeries[] {
    return Array.from(this.held.values());
  }

  /** The last answer's cursor; null before the first read. */
  cursor: number | null = null;
  /** Whether the server may still add points (the last answer's `collecting`). */
  collecting = true;
  /** Bumped by every read that changed what is held. */
  version = 0;
  error: string | null = null;
  /** Whether a read has answered yet. */
  loaded = false;

  /** Read what is new; true when anything changed. */
  async pull(): Promise<boolean> {
    const since = this.cursor === null ? undefined : String(this.cursor);
    let answer: Metrics;
    try {
      answer = await this.client.metrics(this.experimentId, { since });
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      const changed = text !== this.error;
      this.error = text;
      this.version += changed ? 1 : 0;
      return changed;
    }
    const first = !this.loaded || this.error !== null;
    if (since === undefined) {
      this.held.clear();
    }
    const changed = mergeAnswer(this.held, answer.series) || first;
    this.cursor = answer.cursor;
    this.collecting = answer.collecting;
    this.loaded = true;
    this.error = null;
    if (this.series.some(s => s.steps.length > MAX_HELD_POINTS)) {
      this.cursor = null; // too much held: read everything again, downsampled
    }
    this.version += changed ? 1 : 0;
    return changed;
  }

  private readonly held = new Map<string, MetricSeries>();
}

/**
 * Metric series arranged for display: one chart per metric name with a line per
 * replica (and source), and the one series of a run that a comparison shows.
 */
import { MetricSeries } from '../api';
import { IChartSeries } from '../chart/series';
import { lineColor } from '../chart/theme';

/** `worker-1` for `experiment-1764-0001-worker-1` of `experiment_1764_0001`. */
export function shortReplica(experimentId: string, podName: string): string {
  const prefix = `${experimentId.replace(/_/g, '-')}-`;
  return podName.startsWith(prefix) ? podName.slice(prefix.length) : podName;
}

export interface IMetricGroup {
  name: string;
  /** The series of this metric, replicas in the experiment's order. */
  series: MetricSeries[];
  lines: IChartSeries[];
  /** Points drawn, and points the server holds, over every line. */
  shown: number;
  total: number;
  downsampled: boolean;
}

/** Where a replica sorts: its place in `replicas`, unknown ones last by name. */
function replicaRank(replicas: readonly string[]): (name: string) => number {
  return name => {
    const at = replicas.indexOf(name);
    return at < 0 ? replicas.length : at;
  };
}

/** A line's label: the replica's short name, and the source unless it is the log. */
function lineLabel(experimentId: string, series: MetricSeries): string {
  const replica = shortReplica(experimentId, series.replica);
  return series.source === 'log' ? replica : `${replica} (${series.source})`;
}

/**
 * One group per metric name, sorted by name; each line keeps its replica's colour
 * across the groups (its place in `replicas`, the experiment's replica names).
 */
export function groupByMetric(
  experimentId: string,
  all: readonly MetricSeries[],
  replicas: readonly string[]
): IMetricGroup[] {
  const known = [...replicas];
  all.forEach(s => known.includes(s.replica) || known.push(s.replica));
  const rank = replicaRank(known);
  const names = Array.from(new Set(all.map(s => s.name))).sort();
  return names.map(name => {
    const series = all
      .filter(s => s.name === name)
      .sort(
        (a, b) =>
          rank(a.replica) - rank(b.replica) || a.source.localeCompare(b.source)
      );
    return {
      name,
      series,
      lines: series.map(s => ({
        key: `${s.replica}/${s.source}`,
        label: lineLabel(experimentId, s),
        steps: s.steps,
        values: s.values,
        color: lineColor(rank(s.replica))
      })),
      shown: series.reduce((n, s) => n + s.steps.length, 0),
      total: series.reduce((n, s) => n + s.count, 0),
      downsampled: series.some(s => s.downsampled)
    };
  });
}

/**
 * The series of `metric` that stands for a run in a comparison: that of its first
 * replica in the experiment's order (Chief or Master, else worker 0: the replica
 * whose end decides the run) that has it, from the log before other sources.
 */
export function leadSeries(
  all: readonly MetricSeries[],
  metric: string,
  replicas: readonly string[]
): MetricSeries | undefined {
  const rank = replicaRank(replicas);
  const sources = ['log', 'tensorboard', 'tracking'];
  return all
    .filter(s => s.name === metric)
    .sort(
      (a, b) =>
        rank(a.replica) - rank(b.replica) ||
        sources.indexOf(a.source) - sources.indexOf(b.source)
    )[0];
}

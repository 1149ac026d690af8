import * as React from 'react';

import { Experiment, isTerminal } from '../api';
import { Chart } from '../chart/Chart';
import { formatValue } from '../chart/format';
import { IChartSeries } from '../chart/series';
import { lineColor } from '../chart/theme';
import {
  BackToList,
  ErrorBox,
  StatusBadge,
  duration,
  useKeyed,
  useNow
} from '../common';
import { PanelModel } from '../model';
import { leadSeries, shortReplica } from './grouping';
import { useMetrics } from './useMetrics';

/** The metric a comparison shows first, when the runs have it. */
const PREFERRED_METRIC = 'loss';

/**
 * Several experiments side by side: one metric overlaid across them (a line per
 * run: its lead replica's series, see leadSeries) and a table of each run's
 * status, duration and that metric's last, min and max.
 */
export function CompareView(props: {
  model: PanelModel;
  ids: string[];
}): JSX.Element {
  const { model, ids } = props;
  const now = useNow(1000);
  const experiments = ids
    .map(id => model.find(id))
    .filter((e): e is Experiment => e !== undefined);
  const states = experiments
    .map(e => `${e.experimentId}:${isTerminal(e.status)}`)
    .join('\n');
  const targets = React.useMemo(
    () =>
      states
        .split('\n')
        .filter(Boolean)
        .map(state => {
          const at = state.lastIndexOf(':');
          return {
            experimentId: state.slice(0, at),
            finished: state.slice(at + 1) === 'true'
          };
        }),
    [states]
  );
  const { feeds, version } = useMetrics(model.client, targets);
  const all = new Set<string>();
  feeds.forEach(feed => feed.series.forEach(s => all.add(s.name)));
  const names = Array.from(all).sort();
  const [picked, setPicked] = React.useState<string | null>(null);
  const metric =
    picked && names.includes(picked)
      ? picked
      : names.includes(PREFERRED_METRIC)
        ? PREFERRED_METRIC
        : (names[0] ?? null);

  const rows = experiments.map((experiment, i) => {
    const feed = feeds.get(experiment.experimentId);
    const replicas = experiment.replicas.map(r => r.name);
    const series =
      feed && metric ? leadSeries(feed.series, metric, replicas) : undefined;
    return { experiment, feed, series, color: lineColor(i) };
  });
  // Redrawn when a run's series or the metric changes, not every second.
  const lines = useKeyed(
    (): IChartSeries[] =>
      rows
        .filter(r => r.series)
        .map(r => ({
          key: r.experiment.experimentId,
          label: r.experiment.name,
          steps: r.series!.steps,
          values: r.series!.values,
          color: r.color
        })),
    [
      metric,
      version,
      ...rows.map(r => `${r.experiment.experimentId}:${r.feed?.version}`)
    ].join('\n')
  );
  const errors = rows
    .filter(r => r.feed?.error)
    .map(r => `${r.experiment.name}: ${r.feed!.error}`);

  return (
    <div className="jp-SubmarinePanel-compare">
      <div className="jp-SubmarinePanel-toolbar">
        <BackToList model={model} />
      </div>
      <h3 className="jp-SubmarinePanel-title">
        Compare {experiments.length} experiments
      </h3>
      <ErrorBox message={errors.length ? errors.join('\n') : null} />
      <label className="jp-SubmarinePanel-fieldLabel">
        <span className="jp-SubmarinePanel-label">Metric</span>
        <select
          className="jp-mod-styled"
          aria-label="Metric"
          value={metric ?? ''}
          disabled={!names.length}
          onChange={e => setPicked(e.target.value)}
        >
          {names.map(name => (
            <option key={name}>{name}</option>
          ))}
        </select>
      </label>
      {metric ? (
        <Chart
          series={lines}
          label={`${metric} across experiments`}
          height={220}
          yLabel={metric}
        />
      ) : (
        <p className="jp-SubmarinePanel-empty">
          {Array.from(feeds.values()).every(f => f.loaded)
            ? 'None of these experiments has metrics yet.'
            : 'Loading…'}
        </p>
      )}
      <table className="jp-SubmarinePanel-table jp-SubmarinePanel-compareTable">
        <thead>
          <tr>
            <th>Name</th>
            <th>Status</th>
            <th>Duration</th>
            <th title="the replica whose series is drawn">Replica</th>
            <th>Last</th>
            <th>Min</th>
            <th>Max</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ experiment, series, color }) => (
            <tr
              key={experiment.experimentId}
              data-experiment-id={experiment.experimentId}
              title={`Open ${experiment.experimentId}`}
              onClick={() =>
                model.show({ kind: 'detail', id: experiment.experimentId })
              }
            >
              <td>
                <span
                  className="jp-SubmarinePanel-swatch"
                  style={{ background: series ? color : 'transparent' }}
                />
                {experiment.name}
              </td>
              <td>
                <StatusBadge status={experiment.status} />
              </td>
              <td>{duration(experiment, now) || '—'}</td>
              <td>
                {series
                  ? shortReplica(experiment.experimentId, series.replica)
                  : '—'}
              </td>
              <td className="jp-SubmarinePanel-last">
                {formatValue(series?.last)}
              </td>
              <td>{formatValue(series?.min)}</td>
              <td>{formatValue(series?.max)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="jp-SubmarinePanel-empty">
        Each run&apos;s line is its first replica reporting the metric (Chief or
        Master, else worker 0).
      </p>
    </div>
  );
}

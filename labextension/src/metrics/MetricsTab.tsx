import * as React from 'react';

import { Experiment, SubmarineClient, isTerminal } from '../api';
import { Chart } from '../chart/Chart';
import { formatValue } from '../chart/format';
import { ErrorBox, useKeyed } from '../common';
import { IMetricGroup, groupByMetric, shortReplica } from './grouping';
import { useMetrics } from './useMetrics';

/** Height of each metric's plot in the panel, in pixels. */
const CHART_HEIGHT = 180;

function MetricSection(props: { group: IMetricGroup }): JSX.Element {
  const { group } = props;
  return (
    <section className="jp-SubmarinePanel-metric" data-metric={group.name}>
      <h4>{group.name}</h4>
      <Chart
        series={group.lines}
        label={`${group.name} by replica`}
        height={CHART_HEIGHT}
        yLabel={group.name}
      />
      {group.downsampled && (
        <p className="jp-SubmarinePanel-downsampled">
          Downsampled: {group.shown} of {group.total} points drawn (per bucket
          its lowest and highest point, plus the first and the newest).
        </p>
      )}
      <table className="jp-SubmarinePanel-table jp-SubmarinePanel-latest">
        <thead>
          <tr>
            <th>Replica</th>
            <th>Last</th>
            <th>Min</th>
            <th>Max</th>
            <th title="points stored">Points</th>
          </tr>
        </thead>
        <tbody>
          {group.series.map((s, i) => (
            <tr key={group.lines[i].key} data-replica={s.replica}>
              <td>
                <span
                  className="jp-SubmarinePanel-swatch"
                  style={{ background: group.lines[i].color }}
                />
                {group.lines[i].label}
              </td>
              <td className="jp-SubmarinePanel-last">{formatValue(s.last)}</td>
              <td>{formatValue(s.min)}</td>
              <td>{formatValue(s.max)}</td>
              <td>{s.count}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/**
 * The detail view's Metrics tab: a live chart per metric (a line per replica),
 * read incrementally while the experiment runs, with each line's latest values.
 */
export function MetricsTab(props: {
  client: SubmarineClient;
  experiment: Experiment;
}): JSX.Element {
  const { client, experiment } = props;
  const { experimentId } = experiment;
  const finished = isTerminal(experiment.status);
  const targets = React.useMemo(
    () => [{ experimentId, finished }],
    [experimentId, finished]
  );
  const { feeds, version } = useMetrics(client, targets);
  const feed = feeds.get(experimentId);
  const replicas = experiment.replicas.map(r => r.name);
  const groups = useKeyed(
    () => (feed ? groupByMetric(experimentId, feed.series, replicas) : []),
    `${experimentId}\n${version}\n${feed?.version}\n${replicas.join('\n')}`
  );

  if (!feed?.loaded) {
    return (
      <div className="jp-SubmarinePanel-metrics">
        <ErrorBox message={feed?.error ?? null} />
        {!feed?.error && <p className="jp-SubmarinePanel-empty">Loading…</p>}
      </div>
    );
  }
  return (
    <div
      className="jp-SubmarinePanel-metrics"
      data-cursor={feed.cursor ?? undefined}
    >
      <ErrorBox message={feed.error} />
      {groups.length === 0 && (
        <p className="jp-SubmarinePanel-empty">
          No metrics yet. Lines such as <code>step=3 loss=0.27</code> or JSON
          lines in a replica&apos;s output, TensorBoard scalars under{' '}
          <code>$SUBMARINE_TENSORBOARD_LOG_DIR</code> and{' '}
          <code>submarine.log_metric</code> calls appear here
          {finished ? '' : ' as they are written'}.
        </p>
      )}
      {groups.map(group => (
        <MetricSection key={group.name} group={group} />
      ))}
      {groups.length > 0 && !finished && (
        <p className="jp-SubmarinePanel-empty">
          Live: new points are read as{' '}
          {experiment.replicas.length === 1
            ? shortReplica(experimentId, experiment.replicas[0].name)
            : 'the replicas'}{' '}
          print them.
        </p>
      )}
    </div>
  );
}

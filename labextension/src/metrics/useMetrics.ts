import * as React from 'react';

import { SubmarineClient } from '../api';
import { BackoffPoller, IBackoff } from '../poller';
import { MetricsFeed } from './feed';

/** Reads while an experiment runs: soon after new points, slower while none come. */
export const METRICS_BACKOFF: IBackoff = {
  min: 1000,
  max: 5000,
  factor: 1.5,
  hidden: 30000
};

export interface IMetricsTarget {
  experimentId: string;
  /** Whether it has ended: reads go on until the server says its metrics are complete. */
  finished: boolean;
}

/**
 * Live metrics of some experiments: one feed each, read incrementally while the
 * component is mounted, until its experiment has ended and its metrics are complete. The
 * returned version changes whenever a feed does.
 */
export function useMetrics(
  client: SubmarineClient,
  targets: readonly IMetricsTarget[]
): { feeds: Map<string, MetricsFeed>; version: number } {
  const [version, setVersion] = React.useState(0);
  const finished = React.useRef(new Map<string, boolean>());
  targets.forEach(t => finished.current.set(t.experimentId, t.finished));
  const ids = targets.map(t => t.experimentId).join('\n');
  const feeds = React.useMemo(
    () =>
      new Map(
        ids
          .split('\n')
          .filter(Boolean)
          .map(id => [id, new MetricsFeed(client, id)] as const)
      ),
    [client, ids]
  );
  const anyRunning = targets.some(t => !t.finished);

  React.useEffect(() => {
    const done = new Set<string>();
    const poller = new BackoffPoller(async () => {
      const pulls = Array.from(feeds.values())
        .filter(feed => !done.has(feed.experimentId))
        .map(async feed => {
          const ended = finished.current.get(feed.experimentId) ?? true;
          const changed = await feed.pull();
          if (ended && feed.error === null && !feed.collecting) {
            done.add(feed.experimentId);
          }
          return changed;
        });
      const changed = (await Promise.all(pulls)).some(Boolean);
      if (changed) {
        setVersion(v => v + 1);
      }
      if (done.size === feeds.size) {
        poller.dispose();
      }
      return changed;
    }, METRICS_BACKOFF);
    poller.refresh();
    return () => poller.dispose();
    // anyRunning: an experiment restarted by a resize is read again.
  }, [feeds, anyRunning]);

  return { feeds, version };
}

import * as React from 'react';

import { Sweep } from '../api';
import { formatValue } from '../chart/format';
import { ErrorBox, StatusBadge, message } from '../common';
import { ViewLink } from '../iterate/lineage';
import { PanelModel } from '../model';
import { usePolled } from '../usePolled';
import { getSweep, isRunning, objectiveOf, progress, stopSweep } from './api';

/** Every parameter a trial of the sweep has, in the order first seen. */
function paramNames(sweep: Sweep): string[] {
  const names = new Set<string>();
  sweep.trials.forEach(t => Object.keys(t.params).forEach(n => names.add(n)));
  return Array.from(names);
}

/**
 * A sweep's trials, best first (the server's order), with their parameters and
 * objective, live while it runs; Stop sweep ends its running and waiting trials.
 */
export function SweepView(props: {
  model: PanelModel;
  name: string;
}): JSX.Element {
  const { model, name } = props;
  const { value, error, reload } = usePolled(
    model,
    `sweep:${name}`,
    () => getSweep(model.client, name),
    isRunning
  );
  const [stopped, setStopped] = React.useState<Sweep | null>(null);
  const [actionError, setActionError] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  const sweep = stopped && value && isRunning(value) ? stopped : value;

  const back = (
    <button
      type="button"
      className="jp-mod-styled"
      onClick={() => model.show({ kind: 'sweeps' })}
    >
      ← Sweeps
    </button>
  );
  if (!sweep) {
    return (
      <div className="jp-SubmarinePanel-sweep">
        <div className="jp-SubmarinePanel-toolbar">{back}</div>
        {error ? (
          <ErrorBox message={error} />
        ) : (
          <p className="jp-SubmarinePanel-empty">Loading…</p>
        )}
      </div>
    );
  }
  const names = paramNames(sweep);
  const objective = objectiveOf(sweep);
  const ids = sweep.trials
    .map(t => t.experimentId)
    .filter((id): id is string => id !== null);

  const stop = async () => {
    setBusy(true);
    setActionError(null);
    try {
      sweep.trials.forEach(
        t => t.experimentId && model.outcomes.forget(t.experimentId)
      );
      setStopped(await stopSweep(model.client, sweep.name));
      reload();
      model.refresh();
    } catch (failure) {
      setActionError(message(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="jp-SubmarinePanel-sweep" data-sweep={sweep.name}>
      <div className="jp-SubmarinePanel-toolbar">
        {back}
        <span className="jp-SubmarinePanel-spacer" />
        {isRunning(sweep) && (
          <button
            className="jp-mod-styled jp-mod-warn"
            disabled={busy}
            title="Stop its running trials and its waiting ones (their records and logs are kept)"
            onClick={() => void stop()}
          >
            Stop sweep
          </button>
        )}
      </div>
      <h3 className="jp-SubmarinePanel-title">
        <span className="jp-SubmarinePanel-name">{sweep.name}</span>
        <StatusBadge status={sweep.status} />
      </h3>
      <dl className="jp-SubmarinePanel-facts">
        <dt>Template</dt>
        <dd>
          <ViewLink
            model={model}
            view={{ kind: 'template', name: sweep.template }}
          >
            {sweep.template}
          </ViewLink>
        </dd>
        <dt>Objective</dt>
        <dd>{objective ?? '—'}</dd>
        <dt>Parallel</dt>
        <dd>{sweep.parallel}</dd>
        <dt>Progress</dt>
        <dd>{progress(sweep)}</dd>
      </dl>
      {sweep.statusMessage && (
        <div className="jp-SubmarinePanel-message" aria-label="Status message">
          {sweep.statusMessage}
        </div>
      )}
      <ErrorBox message={actionError ?? error} />
      <div className="jp-SubmarinePanel-toolbar">
        <button
          className="jp-mod-styled"
          disabled={ids.length < 2}
          title="Overlay a metric across the trials"
          onClick={() => model.show({ kind: 'compare', ids })}
        >
          Compare trials
        </button>
      </div>
      <div className="jp-SubmarinePanel-scroll">
        <table
          className="jp-SubmarinePanel-table jp-SubmarinePanel-trials"
          aria-label="Trials"
        >
          <thead>
            <tr>
              <th title="trial index">#</th>
              {names.map(n => (
                <th key={n}>{n}</th>
              ))}
              <th>{sweep.objective?.metric ?? 'Objective'}</th>
              <th>Status</th>
            </tr>
          </thead>
          <tbody>
            {sweep.trials.map(t => (
              <tr
                key={t.index}
                data-trial={t.index}
                data-status={t.status}
                className={t.index === sweep.best ? 'jp-mod-best' : undefined}
                title={
                  t.experimentId
                    ? `Open ${t.experimentId}`
                    : 'Waits for its turn'
                }
                onClick={() =>
                  t.experimentId &&
                  model.show({ kind: 'detail', id: t.experimentId })
                }
              >
                <td>
                  {t.index}
                  {t.index === sweep.best && (
                    <span className="jp-SubmarinePanel-best"> best</span>
                  )}
                </td>
                {names.map(n => (
                  <td key={n}>{t.params[n] ?? ''}</td>
                ))}
                <td className="jp-SubmarinePanel-objective">
                  {formatValue(t.objective)}
                </td>
                <td>
                  <StatusBadge status={t.status} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

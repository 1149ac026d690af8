import * as React from 'react';

import { Experiment } from './api';
import { STATUSES } from './vocabulary';
import { ErrorBox, StatusBadge, age, duration, useNow } from './common';
import { PanelModel } from './model';

function matches(experiment: Experiment, text: string): boolean {
  const needle = text.trim().toLowerCase();
  if (!needle) {
    return true;
  }
  const { meta } = experiment.spec;
  return [experiment.name, experiment.experimentId, meta.framework, meta.cmd]
    .join('\n')
    .toLowerCase()
    .includes(needle);
}

export function ExperimentList(props: { model: PanelModel }): JSX.Element {
  const { model } = props;
  const { status, text } = model.filter;
  const now = useNow(1000);
  const shown = model.experiments
    .filter(e => !status || e.status === status)
    .filter(e => matches(e, text))
    .sort(
      (a, b) =>
        (b.acceptedTime ?? '').localeCompare(a.acceptedTime ?? '') ||
        b.experimentId.localeCompare(a.experimentId)
    );

  return (
    <div className="jp-SubmarinePanel-list">
      <div className="jp-SubmarinePanel-toolbar">
        <input
          className="jp-mod-styled"
          type="search"
          placeholder="Filter by name, id, command"
          aria-label="Filter experiments"
          value={text}
          onChange={e => model.setFilter({ text: e.target.value })}
        />
        <select
          className="jp-mod-styled"
          aria-label="Status"
          value={status}
          onChange={e => model.setFilter({ status: e.target.value })}
        >
          <option value="">All statuses</option>
          {STATUSES.map(s => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      {model.selected.length > 0 && (
        <div className="jp-SubmarinePanel-toolbar jp-SubmarinePanel-selection">
          <button
            className="jp-mod-styled jp-mod-accept"
            disabled={model.selected.length < 2}
            title={
              model.selected.length < 2
                ? 'Tick at least two experiments'
                : 'Overlay a metric across the ticked experiments'
            }
            onClick={() =>
              model.show({ kind: 'compare', ids: [...model.selected] })
            }
          >
            Compare ({model.selected.length})
          </button>
          <button
            className="jp-mod-styled"
            onClick={() =>
              model.selected.forEach(id => model.toggleSelected(id))
            }
          >
            Clear
          </button>
        </div>
      )}
      <ErrorBox message={model.error} />
      {model.loaded && shown.length === 0 && (
        <p className="jp-SubmarinePanel-empty">
          {model.experiments.length
            ? 'No experiment matches the filter.'
            : 'No experiments yet. Create one with "New".'}
        </p>
      )}
      <ul className="jp-SubmarinePanel-items" aria-label="Experiments">
        {shown.map(e => (
          <li
            key={e.experimentId}
            className="jp-SubmarinePanel-item"
            data-experiment-id={e.experimentId}
            data-status={e.status}
            tabIndex={0}
            onClick={() => model.show({ kind: 'detail', id: e.experimentId })}
            onKeyDown={event =>
              event.key === 'Enter' &&
              model.show({ kind: 'detail', id: e.experimentId })
            }
          >
            <div className="jp-SubmarinePanel-itemHead">
              <input
                type="checkbox"
                className="jp-SubmarinePanel-select"
                aria-label={`Compare ${e.name}`}
                title="Tick to compare"
                checked={model.selected.includes(e.experimentId)}
                onClick={event => event.stopPropagation()}
                onKeyDown={event => event.stopPropagation()}
                onChange={() => model.toggleSelected(e.experimentId)}
              />
              <span className="jp-SubmarinePanel-name">{e.name}</span>
              <StatusBadge status={e.status} />
            </div>
            <div className="jp-SubmarinePanel-itemMeta">
              <span className="jp-SubmarinePanel-id">{e.experimentId}</span>
            </div>
            <div className="jp-SubmarinePanel-itemMeta">
              <span>{e.spec.meta.framework}</span>
              <span title="age">{age(e, now)}</span>
              <span title="duration">{duration(e, now)}</span>
            </div>
          </li>
        ))}
      </ul>
    </div>
  );
}

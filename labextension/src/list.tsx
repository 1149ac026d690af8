import * as React from 'react';

import { Experiment } from './api';
import { STATUSES } from './vocabulary';
import {
  ErrorBox,
  StatusBadge,
  TargetBadge,
  age,
  duration,
  useNow
} from './common';
import { PanelModel } from './model';

/** Rows drawn beyond each edge of the list's visible part. */
const OVERSCAN = 8;
/** A row's height in px until one is measured. */
const ROW_GUESS = 64;

/**
 * The rows `[first, last)` of a list of `count` equal rows that are in view of
 * the list's scrolling ancestor (`.jp-SubmarinePanel-body`), plus `OVERSCAN`
 * each side, and the rows' height as measured from a drawn one.
 */
function useWindow(
  list: React.RefObject<HTMLUListElement>,
  count: number
): { first: number; last: number; rowHeight: number } {
  const [view, setView] = React.useState({ top: 0, bottom: 0 });
  const [rowHeight, setRowHeight] = React.useState(ROW_GUESS);

  React.useLayoutEffect(() => {
    const ul = list.current;
    const body = ul?.closest('.jp-SubmarinePanel-body');
    if (!ul || !body) {
      return;
    }
    const measure = (): void => {
      const offset = ul.getBoundingClientRect().top;
      const top = body.getBoundingClientRect().top - offset;
      const bottom = top + body.clientHeight;
      setView(v =>
        v.top === top && v.bottom === bottom ? v : { top, bottom }
      );
    };
    measure();
    body.addEventListener('scroll', measure, { passive: true });
    const resized = new ResizeObserver(measure);
    resized.observe(body);
    return () => {
      body.removeEventListener('scroll', measure);
      resized.disconnect();
    };
  }, [list]);

  React.useLayoutEffect(() => {
    const row = list.current?.querySelector('.jp-SubmarinePanel-item');
    const height = row?.getBoundingClientRect().height;
    if (height && Math.abs(height - rowHeight) > 0.5) {
      setRowHeight(height);
    }
  }, [list, rowHeight, count]);

  const first = Math.max(0, Math.floor(view.top / rowHeight) - OVERSCAN);
  const last = Math.min(count, Math.ceil(view.bottom / rowHeight) + OVERSCAN);
  return { first, last: Math.max(first, last), rowHeight };
}

function matches(experiment: Experiment, text: string): boolean {
  const needle = text.trim().toLowerCase();
  if (!needle) {
    return true;
  }
  const { meta } = experiment.spec;
  return [
    experiment.name,
    experiment.experimentId,
    meta.framework,
    meta.cmd,
    experiment.target
  ]
    .join('\n')
    .toLowerCase()
    .includes(needle);
}

export function ExperimentList(props: { model: PanelModel }): JSX.Element {
  const { model } = props;
  const { status, text, target } = model.filter;
  const many = model.manyTargets;
  const now = useNow(1000);
  // Newest first, as the server pages them.
  const shown = React.useMemo(
    () =>
      model.experiments
        .filter(e => !status || e.status === status)
        .filter(e => matches(e, text)),
    [model.experiments, status, text]
  );
  const list = React.useRef<HTMLUListElement>(null);
  const { first, last, rowHeight } = useWindow(list, shown.length);
  const nearEnd = last >= shown.length - OVERSCAN;
  React.useEffect(() => {
    if (nearEnd && model.more !== null) {
      void model.loadMore();
    }
  }, [model, nearEnd, shown.length, model.more]);

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
        {(many || target) && (
          <select
            className="jp-mod-styled"
            aria-label="Target"
            title="Only the experiments on this target"
            value={target}
            onChange={e => model.setFilter({ target: e.target.value })}
          >
            <option value="">All targets</option>
            {model.targets.map(t => (
              <option key={t.name} value={t.name}>
                {t.name}
              </option>
            ))}
          </select>
        )}
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
      {model.loaded && shown.length === 0 && model.more === null && (
        <p className="jp-SubmarinePanel-empty">
          {model.experiments.length
            ? 'No experiment matches the filter.'
            : target
              ? `No experiment on ${target}.`
              : 'No experiments yet. Create one with "New".'}
        </p>
      )}
      <ul
        ref={list}
        className="jp-SubmarinePanel-items"
        aria-label="Experiments"
        data-count={shown.length}
        style={{
          paddingTop: first * rowHeight,
          paddingBottom: (shown.length - last) * rowHeight
        }}
      >
        {shown.slice(first, last).map(e => (
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
              {many && <TargetBadge model={model} name={e.target} />}
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
      {model.more !== null && (
        <p className="jp-SubmarinePanel-empty" aria-live="polite">
          {model.experiments.length} read, older ones as you scroll…
        </p>
      )}
    </div>
  );
}

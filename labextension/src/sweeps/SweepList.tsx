import * as React from 'react';

import { ErrorBox, StatusBadge } from '../common';
import { PanelModel } from '../model';
import { usePolled } from '../usePolled';
import { isRunning, listSweeps, objectiveOf, progress } from './api';

/** Every sweep, live while one runs; one opens its trials. */
export function SweepList(props: { model: PanelModel }): JSX.Element {
  const { model } = props;
  const { value: sweeps, error } = usePolled(
    model,
    'sweeps',
    () => listSweeps(model.client),
    all => all.some(isRunning)
  );
  return (
    <div className="jp-SubmarinePanel-list">
      <ErrorBox message={error} />
      {sweeps?.length === 0 && (
        <p className="jp-SubmarinePanel-empty">
          No sweeps yet. Start one from a template with{' '}
          <code>%submarine sweep TEMPLATE --grid lr=0.1,0.01</code>.
        </p>
      )}
      <ul className="jp-SubmarinePanel-items" aria-label="Sweeps">
        {(sweeps ?? []).map(sweep => {
          const open = () => model.show({ kind: 'sweep', name: sweep.name });
          const objective = objectiveOf(sweep);
          return (
            <li
              key={sweep.name}
              className="jp-SubmarinePanel-item"
              data-sweep={sweep.name}
              data-status={sweep.status}
              tabIndex={0}
              onClick={open}
              onKeyDown={event => event.key === 'Enter' && open()}
            >
              <div className="jp-SubmarinePanel-itemHead">
                <span className="jp-SubmarinePanel-name">{sweep.name}</span>
                <StatusBadge status={sweep.status} />
              </div>
              <div className="jp-SubmarinePanel-itemMeta">
                <span title="template">{sweep.template}</span>
                <span>{progress(sweep)}</span>
                {objective && <span title="objective">{objective}</span>}
              </div>
            </li>
          );
        })}
      </ul>
    </div>
  );
}

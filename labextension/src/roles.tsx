import * as React from 'react';

import { Experiment, isTerminal } from './api';
import { message } from './common';
import { PanelModel } from './model';

/** Change one role's replica count: PATCH with the whole spec, that count changed. */
export function RoleRow(props: {
  model: PanelModel;
  experiment: Experiment;
  role: string;
  onError: (message: string | null) => void;
}): JSX.Element {
  const { model, experiment, role, onError } = props;
  const current = experiment.spec.spec[role].replicas ?? 1;
  const [value, setValue] = React.useState(String(current));
  const [busy, setBusy] = React.useState(false);
  React.useEffect(() => setValue(String(current)), [current]);

  const wanted = Number(value);
  const valid = Number.isInteger(wanted) && wanted >= 1;
  const finished = isTerminal(experiment.status);
  const apply = async () => {
    const spec = structuredClone(experiment.spec);
    spec.spec[role].replicas = wanted;
    setBusy(true);
    onError(null);
    try {
      await model.client.patch(experiment.experimentId, spec);
      model.refresh();
    } catch (error) {
      onError(message(error));
    } finally {
      setBusy(false);
    }
  };
  return (
    <tr data-role={role}>
      <td>{role}</td>
      <td className="jp-SubmarinePanel-replicaCount">{current}</td>
      <td>
        <input
          className="jp-mod-styled"
          type="number"
          min={1}
          aria-label={`${role} replicas`}
          value={value}
          disabled={finished}
          onChange={e => setValue(e.target.value)}
        />
      </td>
      <td>
        <button
          className="jp-mod-styled jp-mod-accept"
          disabled={finished || busy || !valid || wanted === current}
          title={
            finished
              ? 'A finished experiment cannot change'
              : `Set ${role} replicas`
          }
          onClick={() => void apply()}
        >
          Resize
        </button>
      </td>
    </tr>
  );
}

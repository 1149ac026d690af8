/** Stop (keeps the record, logs and metrics) and Delete (removes it, after asking). */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import { Experiment, isTerminal } from '../api';
import { message } from '../common';
import { PanelModel } from '../model';

export function LifecycleActions(props: {
  model: PanelModel;
  experiment: Experiment;
  onError: (message: string | null) => void;
}): JSX.Element {
  const { model, experiment, onError } = props;
  const id = experiment.experimentId;
  const [busy, setBusy] = React.useState(false);

  const act = async (action: () => Promise<void>) => {
    setBusy(true);
    onError(null);
    try {
      await action();
    } catch (error) {
      onError(message(error));
    } finally {
      setBusy(false);
    }
  };

  const stop = () =>
    act(async () => {
      // The user sees it stop here: no notification for it.
      model.outcomes.forget(id);
      await model.client.stop(id);
      model.refresh();
    });

  const remove = async () => {
    const answer = await showDialog({
      title: 'Delete experiment',
      body:
        `Delete ${experiment.name} (${id})? Its replicas are stopped and its ` +
        'record, logs and metrics are removed. Stop ends it and keeps them.',
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!answer.button.accept) {
      return;
    }
    await act(async () => {
      await model.client.remove(id);
      model.show({ kind: 'list' });
      model.refresh();
    });
  };

  return (
    <>
      {!isTerminal(experiment.status) && (
        <button
          className="jp-mod-styled"
          disabled={busy}
          title="End every replica; keep the experiment, its logs and metrics"
          onClick={() => void stop()}
        >
          Stop
        </button>
      )}
      <button
        className="jp-mod-styled jp-mod-warn"
        disabled={busy}
        title="Remove the experiment, its logs and metrics (asks first)"
        onClick={() => void remove()}
      >
        Delete
      </button>
    </>
  );
}

/**
 * Where an experiment comes from and what came of it: the detail view's links to
 * the experiment it re-runs, its re-runs, its template and sweep; and the notice
 * for a spec PATCHed after it ended, recorded but never run.
 */
import * as React from 'react';

import { Experiment } from '../api';
import { ErrorBox, message } from '../common';
import { PanelModel, View } from '../model';
import { changedPaths, sameSpec } from './rerun';

/** A button that reads as a link, to another view of the panel. */
export function ViewLink(props: {
  model: PanelModel;
  view: View;
  title?: string;
  children: React.ReactNode;
}): JSX.Element {
  return (
    <button
      type="button"
      className="jp-SubmarinePanel-link"
      title={props.title}
      onClick={() => props.model.show(props.view)}
    >
      {props.children}
    </button>
  );
}

function ExperimentLink(props: { model: PanelModel; id: string }) {
  const { model, id } = props;
  const found = model.find(id);
  return (
    <span className="jp-SubmarinePanel-lineageItem" data-experiment-id={id}>
      <ViewLink model={model} view={{ kind: 'detail', id }} title={id}>
        {found ? found.name : 'deleted'}
      </ViewLink>{' '}
      <span className="jp-SubmarinePanel-id">{id}</span>
    </span>
  );
}

/** Rows of the detail view's facts: re-run of, re-runs, template, sweep. */
export function LineageFacts(props: {
  model: PanelModel;
  experiment: Experiment;
}): JSX.Element {
  const { model, experiment } = props;
  const { rerunOf: origin, reruns, template, sweep } = experiment;
  return (
    <>
      {origin && (
        <>
          <dt>Re-run of</dt>
          <dd aria-label="Re-run of">
            <ExperimentLink model={model} id={origin} />
          </dd>
        </>
      )}
      {reruns.length > 0 && (
        <>
          <dt>Re-runs</dt>
          <dd aria-label="Re-runs">
            {reruns.map(id => (
              <ExperimentLink key={id} model={model} id={id} />
            ))}
          </dd>
        </>
      )}
      {template && (
        <>
          <dt>Template</dt>
          <dd>
            <ViewLink model={model} view={{ kind: 'template', name: template }}>
              {template}
            </ViewLink>
          </dd>
        </>
      )}
      {sweep && (
        <>
          <dt>Sweep</dt>
          <dd>
            <ViewLink model={model} view={{ kind: 'sweep', name: sweep }}>
              {sweep}
            </ViewLink>
          </dd>
        </>
      )}
    </>
  );
}

/**
 * A spec PATCHed after the end: recorded (Submarine's behaviour) but nothing ran
 * it; what changed, and a button that re-runs it.
 */
export function PendingSpecNotice(props: {
  model: PanelModel;
  experiment: Experiment;
}): JSX.Element | null {
  const { model, experiment } = props;
  const [busy, setBusy] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);
  const pending = experiment.pendingSpec;
  if (!pending) {
    return null;
  }
  const changes = changedPaths(experiment.spec, pending).filter(
    line => !line.startsWith('meta.experimentId:')
  );
  const ranAs = experiment.reruns
    .map(id => model.find(id))
    .find(rerun => rerun && sameSpec(rerun.spec, pending));
  const rerun = async () => {
    setBusy(true);
    setError(null);
    try {
      const created = await model.client.rerun(experiment.experimentId);
      model.outcomes.launched(created.experimentId, created.target);
      model.show({ kind: 'detail', id: created.experimentId });
      model.refresh();
    } catch (failure) {
      setError(message(failure));
      setBusy(false);
    }
  };
  return (
    <div
      className="jp-SubmarinePanel-pending"
      role="note"
      aria-label="Pending spec"
    >
      {ranAs ? (
        <p>
          A new spec was recorded after this experiment ended. It ran as the
          re-run{' '}
          <ViewLink
            model={model}
            view={{ kind: 'detail', id: ranAs.experimentId }}
            title={ranAs.experimentId}
          >
            {ranAs.experimentId}
          </ViewLink>
          ; the spec shown here is the one that ran here.
        </p>
      ) : (
        <p>
          A new spec was recorded after this experiment ended, but nothing was
          re-run: the spec shown here is the one that ran.
        </p>
      )}
      {changes.length > 0 && (
        <ul className="jp-SubmarinePanel-changes" aria-label="Recorded changes">
          {changes.map(line => (
            <li key={line}>{line}</li>
          ))}
        </ul>
      )}
      <ErrorBox message={error} />
      <div className="jp-SubmarinePanel-toolbar">
        <button
          className="jp-mod-styled jp-mod-accept"
          disabled={busy}
          onClick={() => void rerun()}
        >
          Re-run with the new spec
        </button>
      </div>
    </div>
  );
}

/**
 * "Run on…": re-run an experiment on another target (a local one promoted to a
 * cluster, or back). The dialog lists the server's targets, shows the plan the
 * chosen one would run (a dry run of the re-run), and Submit re-runs it there.
 */
import { Dialog } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { DryRun, Experiment, Target } from '../api';
import { ErrorBox, message } from '../common';
import { PanelModel } from '../model';

/** The merge patch that moves a re-run to `target`. */
function onTarget(target: string): { meta: { target: string } } {
  return { meta: { target } };
}

/** What a target is, in a line: backend, Kubeflow API, namespace. */
function describe(target: Target): string {
  return [
    target.backend,
    target.api,
    target.namespace && `namespace ${target.namespace}`,
    target.default && 'default'
  ]
    .filter(Boolean)
    .join(' · ');
}

/** The first target it makes sense to offer: reachable, elsewhere if any. */
function firstChoice(targets: Target[], current: string): string | null {
  const reachable = targets.filter(t => t.reachable);
  return (
    reachable.find(t => t.name !== current)?.name ?? reachable[0]?.name ?? null
  );
}

function RunOnBody(props: {
  model: PanelModel;
  experiment: Experiment;
  onDone: () => void;
}): JSX.Element {
  const { model, experiment, onDone } = props;
  const id = experiment.experimentId;
  const [targets, setTargets] = React.useState<Target[] | null>(null);
  const [chosen, setChosen] = React.useState<string | null>(null);
  const [plan, setPlan] = React.useState<DryRun | null>(null);
  const [planning, setPlanning] = React.useState(false);
  const [busy, setBusy] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);

  React.useEffect(() => {
    const abort = new AbortController();
    model.client.targets(abort.signal).then(
      read => {
        setTargets(read);
        setChosen(firstChoice(read, experiment.target));
      },
      failure => {
        if (!abort.signal.aborted) {
          setTargets([]);
          setError(message(failure));
        }
      }
    );
    return () => abort.abort();
  }, [model, id, experiment.target]);

  // The plan of the chosen target, read again whenever the choice changes.
  React.useEffect(() => {
    setPlan(null);
    if (chosen === null) {
      return;
    }
    const abort = new AbortController();
    setPlanning(true);
    setError(null);
    model.client.planRerun(id, onTarget(chosen), abort.signal).then(
      planned => {
        setPlan(planned);
        setPlanning(false);
      },
      failure => {
        if (!abort.signal.aborted) {
          setError(message(failure));
          setPlanning(false);
        }
      }
    );
    return () => abort.abort();
  }, [model, id, chosen]);

  const submit = async () => {
    if (chosen === null) {
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const created = await model.client.rerun(id, onTarget(chosen));
      model.outcomes.launched(created.experimentId, created.target);
      model.show({ kind: 'detail', id: created.experimentId });
      model.refresh();
      onDone();
    } catch (failure) {
      setError(message(failure));
      setBusy(false);
    }
  };

  return (
    <div className="jp-SubmarinePanel-runOn" data-experiment-id={id}>
      <p className="jp-SubmarinePanel-formNote">
        A new experiment from {experiment.name}&apos;s spec, on the target you
        choose; it runs on {experiment.target} now. Both link to each other.
      </p>
      {targets === null ? (
        <p className="jp-SubmarinePanel-empty">Reading the targets…</p>
      ) : (
        <ul
          className="jp-SubmarinePanel-targets"
          role="radiogroup"
          aria-label="Targets"
        >
          {targets.map(t => (
            <li
              key={t.name}
              data-target={t.name}
              data-reachable={String(t.reachable)}
              className={t.reachable ? undefined : 'jp-mod-disabled'}
            >
              <label title={t.reachable ? describe(t) : (t.message ?? '')}>
                <input
                  type="radio"
                  name="jp-SubmarinePanel-runOnTarget"
                  value={t.name}
                  disabled={!t.reachable || busy}
                  checked={chosen === t.name}
                  onChange={() => setChosen(t.name)}
                />
                <span className="jp-SubmarinePanel-targetName">{t.name}</span>
                {t.name === experiment.target && (
                  <span className="jp-SubmarinePanel-targetHere">
                    (runs here now)
                  </span>
                )}
                <span className="jp-SubmarinePanel-targetWhat">
                  {describe(t)}
                </span>
              </label>
              {!t.reachable && (
                <div className="jp-SubmarinePanel-targetWhy">
                  Unreachable{t.message ? `: ${t.message}` : ''}
                </div>
              )}
            </li>
          ))}
        </ul>
      )}
      {targets !== null && targets.length > 0 && chosen === null && (
        <p className="jp-SubmarinePanel-empty">No target can be reached.</p>
      )}
      <ErrorBox message={error} />
      {planning && <p className="jp-SubmarinePanel-empty">Planning…</p>}
      {plan && (
        <>
          <h4 className="jp-SubmarinePanel-planTitle">
            Plan on {plan.target} ({plan.backend})
          </h4>
          <pre className="jp-SubmarinePanel-yaml jp-SubmarinePanel-plan">
            {JSON.stringify(plan.plan, null, 2)}
          </pre>
        </>
      )}
      <div className="jp-SubmarinePanel-toolbar">
        <button
          type="button"
          className="jp-mod-styled jp-mod-accept"
          disabled={busy || planning || plan === null || plan.target !== chosen}
          title={
            plan ? `Re-run ${experiment.name} on ${plan.target}` : undefined
          }
          onClick={() => void submit()}
        >
          Submit
        </button>
      </div>
    </div>
  );
}

/** Opens the "Run on…" dialog for `experiment`. */
export function showRunOn(model: PanelModel, experiment: Experiment): void {
  const body = ReactWidget.create(
    <RunOnBody
      model={model}
      experiment={experiment}
      onDone={() => dialog.resolve(0)}
    />
  );
  body.addClass('jp-SubmarinePanel');
  const dialog = new Dialog({
    title: `Run ${experiment.name} on…`,
    body,
    buttons: [Dialog.cancelButton()],
    hasClose: true
  });
  dialog.addClass('jp-SubmarinePanel-runOnDialog');
  void dialog.launch();
}

/** The detail view's "Run on…" button (when the server has several targets). */
export function RunOnButton(props: {
  model: PanelModel;
  experiment: Experiment;
}): JSX.Element | null {
  const { model, experiment } = props;
  if (!model.manyTargets) {
    return null;
  }
  return (
    <button
      className="jp-mod-styled"
      title="Re-run this experiment on another target, after seeing what would run there"
      onClick={() => showRunOn(model, experiment)}
    >
      Run on…
    </button>
  );
}

import * as React from 'react';

import { Experiment } from './api';
import {
  BackToList,
  ErrorBox,
  StatusBadge,
  TargetBadge,
  age,
  copy,
  duration,
  useNow
} from './common';
import { LifecycleActions } from './iterate/actions';
import { LineageFacts, PendingSpecNotice } from './iterate/lineage';
import { rerunOf } from './iterate/rerun';
import { RunOnButton } from './iterate/runon';
import { LogView } from './logview';
import { MetricsTab } from './metrics/MetricsTab';
import { PanelModel } from './model';
import { firstReplica } from './replicas';
import { RoleRow } from './roles';
import { curlCommand, magicCommand } from './snippets';
import { SpecYaml } from './specview';

type Tab = 'overview' | 'metrics';
const TABS: [Tab, string][] = [
  ['overview', 'Overview'],
  ['metrics', 'Metrics']
];

/** Roles (with resize), replicas, the chosen replica's log and the spec. */
function Overview(props: {
  model: PanelModel;
  experiment: Experiment;
  onError: (message: string | null) => void;
}): JSX.Element {
  const { model, experiment, onError } = props;
  const { spec } = experiment;
  const [pod, setPod] = React.useState<string | null>(null);
  const chosen =
    experiment.replicas.find(r => r.name === pod) ?? firstReplica(experiment);
  return (
    <>
      <h4>Roles</h4>
      <table className="jp-SubmarinePanel-table jp-SubmarinePanel-roles">
        <thead>
          <tr>
            <th>Role</th>
            <th>Replicas</th>
            <th colSpan={2}>Change</th>
          </tr>
        </thead>
        <tbody>
          {Object.keys(spec.spec).map(role => (
            <RoleRow
              key={role}
              model={model}
              experiment={experiment}
              role={role}
              onError={onError}
            />
          ))}
        </tbody>
      </table>

      <h4>Replicas</h4>
      <table className="jp-SubmarinePanel-table jp-SubmarinePanel-replicas">
        <thead>
          <tr>
            <th>Replica</th>
            <th>State</th>
            <th title="restarts">↻</th>
            <th title="exit code">Exit</th>
          </tr>
        </thead>
        <tbody>
          {experiment.replicas.map(r => (
            <tr
              key={r.name}
              data-replica={r.name}
              className={
                r.name === chosen?.name ? 'jp-mod-selected' : undefined
              }
              title={r.message ?? `Show the log of ${r.name}`}
              onClick={() => setPod(r.name)}
            >
              <td>
                {r.role.toLowerCase()}-{r.index}
              </td>
              <td>
                <StatusBadge status={r.state} />
              </td>
              <td>{r.restarts}</td>
              <td>{r.exitCode ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>

      <h4 title={chosen?.name} className="jp-SubmarinePanel-logTitle">
        Log{chosen && ` of ${chosen.role.toLowerCase()}-${chosen.index}`}
      </h4>
      {chosen ? (
        <LogView
          client={model.client}
          experimentId={experiment.experimentId}
          podName={chosen.name}
        />
      ) : (
        <p className="jp-SubmarinePanel-empty">No replica yet.</p>
      )}

      <h4>Spec</h4>
      <SpecYaml
        client={model.client}
        experimentId={experiment.experimentId}
        spec={spec}
      />
    </>
  );
}

export function ExperimentDetail(props: {
  model: PanelModel;
  id: string;
}): JSX.Element {
  const { model, id } = props;
  const experiment = model.find(id);
  const now = useNow(1000);
  const [tab, setTab] = React.useState<Tab>('overview');
  const [actionError, setActionError] = React.useState<string | null>(null);

  if (!experiment) {
    return (
      <div className="jp-SubmarinePanel-detail">
        <BackToList model={model} />
        <p className="jp-SubmarinePanel-empty">
          {model.loaded && !model.reading(id)
            ? `Experiment ${id} no longer exists.`
            : 'Loading…'}
        </p>
      </div>
    );
  }
  const { spec } = experiment;
  const magic = magicCommand(spec);

  return (
    <div
      className="jp-SubmarinePanel-detail"
      data-experiment-id={experiment.experimentId}
    >
      <div className="jp-SubmarinePanel-toolbar">
        <BackToList model={model} />
        <span className="jp-SubmarinePanel-spacer" />
        <LifecycleActions
          model={model}
          experiment={experiment}
          onError={setActionError}
        />
      </div>
      <h3 className="jp-SubmarinePanel-title">
        <span className="jp-SubmarinePanel-name">{experiment.name}</span>
        <StatusBadge status={experiment.status} />
      </h3>
      <dl className="jp-SubmarinePanel-facts">
        <dt>Id</dt>
        <dd className="jp-SubmarinePanel-id">{experiment.experimentId}</dd>
        <dt>Framework</dt>
        <dd>{spec.meta.framework}</dd>
        <dt>Target</dt>
        <dd aria-label="Target">
          <TargetBadge model={model} name={experiment.target} />
        </dd>
        <dt>Accepted</dt>
        <dd
          title={
            experiment.acceptedTime
              ? new Date(experiment.acceptedTime).toLocaleString()
              : undefined
          }
        >
          {age(experiment, now)}
        </dd>
        <dt>Duration</dt>
        <dd>{duration(experiment, now) || '—'}</dd>
        <LineageFacts model={model} experiment={experiment} />
      </dl>
      {experiment.statusMessage && (
        <div
          className="jp-SubmarinePanel-message"
          role="status"
          aria-label="Status message"
        >
          {experiment.statusMessage}
        </div>
      )}
      <PendingSpecNotice model={model} experiment={experiment} />
      <div className="jp-SubmarinePanel-toolbar">
        <button
          className="jp-mod-styled jp-mod-accept"
          title="A new experiment from this one's spec, with what you change; both link to each other"
          onClick={() =>
            model.show({ kind: 'create', rerun: rerunOf(experiment) })
          }
        >
          Re-run with changes
        </button>
        <RunOnButton model={model} experiment={experiment} />
        <button
          className="jp-mod-styled"
          title="A new, unrelated experiment with a copy of this spec"
          onClick={() => model.show({ kind: 'create', from: spec })}
        >
          Clone
        </button>
        <button
          className="jp-mod-styled"
          disabled={'reason' in magic}
          title={
            'reason' in magic
              ? `Not expressible as %submarine: ${magic.reason}`
              : undefined
          }
          onClick={() =>
            'text' in magic && copy(magic.text, 'the %submarine command')
          }
        >
          Copy as %submarine
        </button>
        <button
          className="jp-mod-styled"
          onClick={() =>
            copy(
              curlCommand(spec, model.client.url('experiment')),
              'the curl command'
            )
          }
        >
          Copy as curl
        </button>
      </div>
      <ErrorBox message={actionError} />

      <div className="jp-SubmarinePanel-tabs" role="tablist">
        {TABS.map(([name, label]) => (
          <button
            key={name}
            role="tab"
            className="jp-SubmarinePanel-tab"
            aria-selected={tab === name}
            onClick={() => setTab(name)}
          >
            {label}
          </button>
        ))}
      </div>
      <div
        role="tabpanel"
        aria-label={tab === 'metrics' ? 'Metrics' : 'Overview'}
      >
        {tab === 'overview' ? (
          <Overview
            model={model}
            experiment={experiment}
            onError={setActionError}
          />
        ) : (
          <MetricsTab client={model.client} experiment={experiment} />
        )}
      </div>
    </div>
  );
}

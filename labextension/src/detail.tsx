import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import { Experiment, ExperimentSpec, SubmarineClient, isTerminal } from './api';
import {
  ErrorBox,
  StatusBadge,
  age,
  copy,
  duration,
  message,
  useNow
} from './common';
import { PanelModel } from './model';
import { curlCommand, magicCommand } from './snippets';

/** The stored spec as the server writes it in YAML (`spec?format=yaml`), read
 * again whenever the spec changes (a resize). */
function SpecYaml(props: {
  client: SubmarineClient;
  experimentId: string;
  spec: ExperimentSpec;
}): JSX.Element {
  const { client, experimentId } = props;
  const version = JSON.stringify(props.spec);
  const [yaml, setYaml] = React.useState<string | null>(null);
  const [error, setError] = React.useState<string | null>(null);

  React.useEffect(() => {
    const abort = new AbortController();
    client.specYaml(experimentId, abort.signal).then(
      text => {
        setYaml(text);
        setError(null);
      },
      reason => abort.signal.aborted || setError(message(reason))
    );
    return () => abort.abort();
  }, [client, experimentId, version]);

  return (
    <>
      <ErrorBox message={error} />
      <pre
        className="jp-SubmarinePanel-yaml"
        aria-label="Spec as YAML"
        aria-busy={yaml === null}
      >
        {yaml ?? 'Loading…'}
      </pre>
    </>
  );
}

/** Most log lines kept on screen (and asked for when following starts). */
const LOG_LINES = 2000;

/** The log of one replica, streamed live (`follow=true`) until the experiment ends. */
function LogView(props: {
  client: SubmarineClient;
  experimentId: string;
  podName: string;
}): JSX.Element {
  const { client, experimentId, podName } = props;
  const [lines, setLines] = React.useState<string[]>([]);
  const [ended, setEnded] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);
  const [attempt, setAttempt] = React.useState(0);
  const pre = React.useRef<HTMLPreElement>(null);
  const stick = React.useRef(true);

  React.useEffect(() => {
    const abort = new AbortController();
    let buffer: string[] = [];
    let flush = 0;
    setLines([]);
    setEnded(false);
    setError(null);
    // Batch lines per animation frame so a chatty replica does not re-render per line.
    const push = (line: string) => {
      buffer.push(line);
      flush ||= window.requestAnimationFrame(() => {
        const added = buffer;
        buffer = [];
        flush = 0;
        setLines(old => old.concat(added).slice(-LOG_LINES));
      });
    };
    client
      .followLogs(
        experimentId,
        podName,
        item => push(item.line),
        abort.signal,
        LOG_LINES
      )
      .then(
        () => setEnded(true),
        reason => abort.signal.aborted || setError(message(reason))
      );
    return () => {
      abort.abort();
      window.cancelAnimationFrame(flush);
    };
  }, [client, experimentId, podName, attempt]);

  React.useLayoutEffect(() => {
    if (pre.current && stick.current) {
      pre.current.scrollTop = pre.current.scrollHeight;
    }
  }, [lines]);

  return (
    <div className="jp-SubmarinePanel-logs">
      <div className="jp-SubmarinePanel-logsHead">
        <span
          className="jp-SubmarinePanel-logState"
          data-state={error ? 'error' : ended ? 'ended' : 'following'}
        >
          {error ?? (ended ? 'end of log' : 'following…')}
        </span>
        {(ended || error) && (
          <button
            className="jp-mod-styled jp-mod-reject"
            onClick={() => setAttempt(a => a + 1)}
          >
            Reload
          </button>
        )}
      </div>
      <pre
        ref={pre}
        className="jp-SubmarinePanel-logText"
        aria-label={`Log of ${podName}`}
        onScroll={event => {
          const el = event.currentTarget;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 8;
        }}
      >
        {lines.join('\n')}
      </pre>
    </div>
  );
}

/** Change one role's replica count: PATCH with the whole spec, that count changed. */
function RoleRow(props: {
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

export function ExperimentDetail(props: {
  model: PanelModel;
  id: string;
}): JSX.Element {
  const { model, id } = props;
  const experiment = model.find(id);
  const now = useNow(1000);
  const [pod, setPod] = React.useState<string | null>(null);
  const [actionError, setActionError] = React.useState<string | null>(null);

  if (!experiment) {
    return (
      <div className="jp-SubmarinePanel-detail">
        <button
          className="jp-mod-styled"
          onClick={() => model.show({ kind: 'list' })}
        >
          ← Experiments
        </button>
        <p className="jp-SubmarinePanel-empty">
          {model.loaded ? `Experiment ${id} no longer exists.` : 'Loading…'}
        </p>
      </div>
    );
  }
  const { spec } = experiment;
  const magic = magicCommand(spec);
  const chosen =
    experiment.replicas.find(r => r.name === pod) ?? experiment.replicas[0];

  const remove = async () => {
    const answer = await showDialog({
      title: 'Delete experiment',
      body: `Delete ${experiment.name} (${experiment.experimentId})? Its replicas are stopped and its logs are removed.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await model.client.remove(experiment.experimentId);
      model.show({ kind: 'list' });
      model.refresh();
    } catch (error) {
      setActionError(message(error));
    }
  };

  return (
    <div
      className="jp-SubmarinePanel-detail"
      data-experiment-id={experiment.experimentId}
    >
      <div className="jp-SubmarinePanel-toolbar">
        <button
          className="jp-mod-styled"
          onClick={() => model.show({ kind: 'list' })}
        >
          ← Experiments
        </button>
        <button
          className="jp-mod-styled jp-mod-warn"
          onClick={() => void remove()}
        >
          Delete
        </button>
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
        {experiment.statusMessage && (
          <>
            <dt>Message</dt>
            <dd>{experiment.statusMessage}</dd>
          </>
        )}
      </dl>
      <div className="jp-SubmarinePanel-toolbar">
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
        <button
          className="jp-mod-styled"
          onClick={() => model.show({ kind: 'create', from: spec })}
        >
          Clone
        </button>
      </div>
      <ErrorBox message={actionError} />

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
              onError={setActionError}
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

      <h4 title={chosen?.name}>
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
    </div>
  );
}

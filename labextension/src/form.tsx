import * as React from 'react';

import { Environment, ExperimentSpec } from './api';
import { BackToList, ErrorBox, copy } from './common';
import {
  BLANK,
  EnvKind,
  Errors,
  IDraft,
  IRoleDraft,
  TopField,
  addError,
  fromSpec,
  rolesOf,
  rolesWarning,
  toSpec
} from './draft';
import { Field, described, errorId } from './fields';
import { IRerun, changesTo } from './iterate/rerun';
import { PanelModel } from './model';
import { IVerdict, placeVerdict, refusal, useServerCheck } from './servercheck';
import { curlCommand, magicCommand } from './snippets';
import { FRAMEWORKS } from './vocabulary';

/**
 * The experiment form: blank, a clone (`from`), or a re-run with changes
 * (`rerun`: prefilled with its spec, sent as a merge patch of it).
 */
export function CreateForm(props: {
  model: PanelModel;
  from?: ExperimentSpec;
  rerun?: IRerun;
}): JSX.Element {
  const { model, from, rerun } = props;
  const [draft, setDraft] = React.useState<IDraft>(() =>
    rerun
      ? fromSpec(rerun.base, rerun.base.meta.name)
      : from
        ? fromSpec(from)
        : BLANK
  );
  /** Create or Check was pressed: every problem shows, touched or not. */
  const [submitted, setSubmitted] = React.useState(false);
  const [verdict, setVerdict] = React.useState<IVerdict | null>(null);
  const [notice, setNotice] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  const [environments, setEnvironments] = React.useState<Environment[]>([]);
  const server = useServerCheck(model.client);

  React.useEffect(() => {
    model.client
      .environments()
      .then(setEnvironments, () => setEnvironments([]));
  }, [model]);

  const { spec, local } = toSpec(draft);
  const placed = placeVerdict(verdict, draft);
  const all: Errors = { ...placed.fields };
  Object.entries(local).forEach(([key, text]) => addError(all, key, text));
  const shown = (key: string): boolean => {
    const row = /^(?:role|replicas|resources)(\d+)$/.exec(key);
    return (
      submitted ||
      (row
        ? !!draft.roles[Number(row[1])]?.touched
        : draft.touched.includes(key as TopField))
    );
  };
  const errors: Errors = Object.fromEntries(
    Object.entries(all).filter(([key]) => shown(key))
  );
  const problems = Object.keys(errors).length;

  /** Take an edit; the server checks the result once the user pauses. */
  const edit = (next: IDraft) => {
    setDraft(next);
    setNotice(null);
    server.schedule(toSpec(next).spec, setVerdict);
  };
  const touch = (field: TopField): TopField[] =>
    draft.touched.includes(field) ? draft.touched : [...draft.touched, field];
  const update = (field: TopField, change: Partial<IDraft>) =>
    edit({ ...draft, ...change, touched: touch(field) });
  const updateRole = (i: number, change: Partial<IRoleDraft>) =>
    edit({
      ...draft,
      roles: draft.roles.map((r, j) =>
        j === i ? { ...r, ...change, touched: true } : r
      )
    });
  const allowed = rolesOf(draft.framework);
  const defaultTarget = model.targets.find(t => t.default)?.name ?? 'local';
  // A spec may name a target this server no longer has: it stays choosable.
  const targetNames = model.targets.map(t => t.name);
  if (draft.target && !targetNames.includes(draft.target)) {
    targetNames.push(draft.target);
  }
  const warning = rolesWarning(draft);

  /** Check (or create) now: every problem shows, the server's included. */
  const submit = async (create: boolean) => {
    setSubmitted(true);
    setNotice(null);
    setBusy(true);
    try {
      if (!create || Object.keys(local).length) {
        const answer = await server.checkNow(spec);
        if (answer) {
          setVerdict(answer);
          if (answer.accepted && !Object.keys(local).length) {
            setNotice('The server accepts this spec.');
          }
        }
        return;
      }
      server.cancel();
      try {
        const created = rerun
          ? await model.client.rerun(rerun.experimentId, changesTo(rerun, spec))
          : await model.client.create(spec);
        model.outcomes.launched(created.experimentId, created.target);
        model.show({ kind: 'detail', id: created.experimentId });
        model.refresh();
      } catch (error) {
        setVerdict(refusal(error));
      }
    } finally {
      setBusy(false);
    }
  };

  /** Copy the draft as a command, unless the server refuses the spec itself. */
  const copyAs = async (what: 'magic' | 'curl') => {
    const answer = Object.keys(local).length
      ? null
      : await server.checkNow(spec);
    if (!answer || answer.fieldErrors.length) {
      setSubmitted(true);
      if (answer) {
        setVerdict(answer);
      }
      return;
    }
    if (what === 'curl') {
      copy(
        curlCommand(spec, model.client.url('experiment')),
        'the curl command'
      );
      return;
    }
    const magic = magicCommand(spec);
    if ('text' in magic) {
      copy(magic.text, 'the %submarine command');
    } else {
      setNotice(`Not expressible as %submarine: ${magic.reason}`);
    }
  };

  return (
    <form
      className="jp-SubmarinePanel-form"
      aria-label={rerun ? 'Re-run experiment' : 'New experiment'}
      noValidate
      onSubmit={event => {
        event.preventDefault();
        void submit(true);
      }}
    >
      <div className="jp-SubmarinePanel-toolbar">
        <BackToList model={model} />
      </div>
      <h3 className="jp-SubmarinePanel-title">
        {rerun ? `Re-run ${rerun.name} with changes` : 'New experiment'}
      </h3>
      {rerun && (
        <p className="jp-SubmarinePanel-formNote">
          Starts a new experiment from {rerun.experimentId}&apos;s spec with
          what you change here; both link to each other.
        </p>
      )}
      <Field label="Name" name="name" error={errors.name}>
        <input
          className="jp-mod-styled"
          name="name"
          {...described('name', errors.name)}
          placeholder="mnist-1"
          value={draft.name}
          onChange={e => update('name', { name: e.target.value })}
        />
      </Field>
      <Field label="Framework" name="framework" error={errors.framework}>
        <select
          className="jp-mod-styled"
          name="framework"
          {...described('framework', errors.framework)}
          value={draft.framework}
          onChange={e =>
            // Its roles may no longer fit: show the rows' problems too.
            update('framework', {
              framework: e.target.value,
              roles: draft.roles.map(r => ({ ...r, touched: true }))
            })
          }
        >
          {FRAMEWORKS.map(f => (
            <option key={f}>{f}</option>
          ))}
        </select>
      </Field>
      {(model.manyTargets || draft.target) && (
        <Field label="Target" name="target" error={errors.target}>
          <select
            className="jp-mod-styled"
            name="target"
            {...described('target', errors.target)}
            value={draft.target}
            onChange={e => update('target', { target: e.target.value })}
          >
            <option value="">
              {rerun
                ? `Same as ${rerun.name} (${rerun.target})`
                : `Server default (${defaultTarget})`}
            </option>
            {targetNames.map(name => {
              const target = model.targets.find(t => t.name === name);
              return (
                <option
                  key={name}
                  value={name}
                  title={target?.message ?? undefined}
                >
                  {name}
                  {target && !target.reachable ? ' (unreachable)' : ''}
                </option>
              );
            })}
          </select>
        </Field>
      )}
      <Field label="Command" name="cmd" error={errors.cmd}>
        <textarea
          className="jp-mod-styled"
          name="cmd"
          {...described('cmd', errors.cmd)}
          rows={3}
          placeholder="python train.py --epochs 3"
          value={draft.cmd}
          onChange={e => update('cmd', { cmd: e.target.value })}
        />
      </Field>

      <fieldset className="jp-SubmarinePanel-fieldset" data-field="roles">
        <legend>Roles</legend>
        {draft.roles.map((r, i) => (
          <div
            className="jp-SubmarinePanel-roleRow"
            key={i}
            data-role-index={i}
          >
            <select
              className="jp-mod-styled"
              aria-label={`Role ${i + 1}`}
              {...described(`role${i}`, errors[`role${i}`])}
              value={r.role}
              onChange={e => updateRole(i, { role: e.target.value })}
            >
              {(allowed.includes(r.role) ? allowed : [r.role, ...allowed]).map(
                role => (
                  <option key={role}>{role}</option>
                )
              )}
            </select>
            <input
              className="jp-mod-styled"
              type="number"
              min={1}
              aria-label={`Role ${i + 1} replicas`}
              {...described(`replicas${i}`, errors[`replicas${i}`])}
              value={r.replicas}
              onChange={e => updateRole(i, { replicas: e.target.value })}
            />
            <input
              className="jp-mod-styled jp-SubmarinePanel-resources"
              aria-label={`Role ${i + 1} resources`}
              {...described(`resources${i}`, errors[`resources${i}`])}
              placeholder="resources, e.g. cpu=1,memory=2Gi,gpu=1"
              value={r.resources}
              onChange={e => updateRole(i, { resources: e.target.value })}
            />
            <button
              type="button"
              className="jp-mod-styled"
              title="Remove this role"
              aria-label={`Remove role ${i + 1}`}
              onClick={() =>
                update('roles', {
                  roles: draft.roles.filter((_, j) => j !== i)
                })
              }
            >
              ✕
            </button>
            {(['role', 'replicas', 'resources'] as const)
              .filter(part => errors[`${part}${i}`])
              .map(part => (
                <span
                  key={part}
                  className="jp-SubmarinePanel-fieldError"
                  data-field={part}
                  id={errorId(`${part}${i}`)}
                >
                  {errors[`${part}${i}`]}
                </span>
              ))}
          </div>
        ))}
        {errors.roles && (
          <span className="jp-SubmarinePanel-fieldError" id={errorId('roles')}>
            {errors.roles}
          </span>
        )}
        {warning && (
          <p className="jp-SubmarinePanel-fieldWarning" role="note">
            {warning}
          </p>
        )}
        <button
          type="button"
          className="jp-mod-styled"
          disabled={draft.roles.length >= allowed.length}
          onClick={() => {
            const free = allowed.find(
              role => !draft.roles.some(r => r.role === role)
            );
            if (free) {
              update('roles', {
                roles: [
                  ...draft.roles,
                  { role: free, replicas: '1', resources: '' }
                ]
              });
            }
          }}
        >
          Add role
        </button>
      </fieldset>

      <fieldset className="jp-SubmarinePanel-fieldset">
        <legend>Environment</legend>
        <div className="jp-SubmarinePanel-radios" role="radiogroup">
          {(
            [
              ['none', 'Server default'],
              ['image', 'Image'],
              ['name', 'Stored environment']
            ] as [EnvKind, string][]
          ).map(([kind, label]) => (
            <label key={kind}>
              <input
                type="radio"
                name="envKind"
                value={kind}
                checked={draft.envKind === kind}
                onChange={() => update('environment', { envKind: kind })}
              />
              {label}
            </label>
          ))}
        </div>
        {draft.envKind !== 'none' && (
          <Field
            label={draft.envKind === 'image' ? 'Image' : 'Environment name'}
            name="environment"
            error={errors.environment}
          >
            <input
              className="jp-mod-styled"
              name="environment"
              {...described('environment', errors.environment)}
              list={
                draft.envKind === 'name'
                  ? 'jp-SubmarinePanel-environments'
                  : undefined
              }
              placeholder={draft.envKind === 'image' ? 'python:3.11' : 'my-env'}
              value={draft.envValue}
              onChange={e =>
                update('environment', { envValue: e.target.value })
              }
            />
          </Field>
        )}
        <datalist id="jp-SubmarinePanel-environments">
          {environments.map(env => (
            <option key={env.environmentId} value={env.environmentSpec.name} />
          ))}
        </datalist>
      </fieldset>

      <Field
        label="Environment variables (KEY=VALUE per line)"
        name="envVars"
        error={errors.envVars}
      >
        <textarea
          className="jp-mod-styled"
          name="envVars"
          {...described('envVars', errors.envVars)}
          rows={2}
          placeholder="EPOCHS=3"
          value={draft.envVars}
          onChange={e => update('envVars', { envVars: e.target.value })}
        />
      </Field>

      {submitted && problems > 0 && (
        <ErrorBox
          message={`Fix ${problems === 1 ? 'the problem' : `the ${problems} problems`} marked above.`}
        />
      )}
      <ErrorBox message={placed.box} />
      {notice && <div className="jp-SubmarinePanel-notice">{notice}</div>}
      <div className="jp-SubmarinePanel-toolbar">
        <button
          type="submit"
          className="jp-mod-styled jp-mod-accept"
          disabled={busy}
        >
          {rerun ? 'Re-run' : 'Create'}
        </button>
        <button
          type="button"
          className="jp-mod-styled"
          disabled={busy}
          onClick={() => void submit(false)}
        >
          Check
        </button>
        <button
          type="button"
          className="jp-mod-styled"
          onClick={() => void copyAs('magic')}
        >
          Copy as %submarine
        </button>
        <button
          type="button"
          className="jp-mod-styled"
          onClick={() => void copyAs('curl')}
        >
          Copy as curl
        </button>
      </div>
    </form>
  );
}

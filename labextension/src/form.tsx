import * as React from 'react';

import { Environment, ExperimentSpec, TaskSpec } from './api';
import { ErrorBox, copy, message } from './common';
import { PanelModel } from './model';
import { curlCommand, magicCommand } from './snippets';
import {
  FRAMEWORKS,
  checkEnvironmentName,
  checkName,
  checkReplicas,
  checkResources,
  parseEnvVars,
  rolesOf
} from './validate';

interface IRoleDraft {
  role: string;
  replicas: string;
  resources: string;
  /** What the form does not edit (per-role command, image, variables), kept as is. */
  kept?: TaskSpec;
}

type EnvKind = 'none' | 'image' | 'name';

interface IDraft {
  name: string;
  framework: string;
  cmd: string;
  roles: IRoleDraft[];
  envKind: EnvKind;
  envValue: string;
  envVars: string;
  /** Meta fields the form does not edit (namespace, tags), kept as is. */
  keptMeta?: Partial<ExperimentSpec['meta']>;
}

const BLANK: IDraft = {
  name: '',
  framework: 'TensorFlow',
  cmd: '',
  roles: [{ role: 'Worker', replicas: '1', resources: 'cpu=1,memory=1Gi' }],
  envKind: 'none',
  envValue: '',
  envVars: ''
};

function fromSpec(spec: ExperimentSpec): IDraft {
  const env = spec.environment;
  const { name: _name, framework: _framework, cmd: _cmd, envVars: _envVars, experimentId: _id, ...keptMeta } =
    spec.meta;
  return {
    keptMeta,
    name: `${spec.meta.name}-copy`.slice(0, 63),
    framework: spec.meta.framework,
    cmd: spec.meta.cmd,
    roles: Object.entries(spec.spec).map(([role, { replicas, resources, ...kept }]) => ({
      role,
      replicas: String(replicas ?? 1),
      resources: resources ?? '',
      kept
    })),
    envKind: env?.image ? 'image' : env?.name ? 'name' : 'none',
    envValue: env?.image ?? env?.name ?? '',
    envVars: Object.entries(spec.meta.envVars ?? {})
      .map(([key, value]) => `${key}=${value}`)
      .join('\n')
  };
}

type Errors = Record<string, string>;

/** The draft as a spec, or the problems the server would refuse it for. */
function toSpec(draft: IDraft): { spec: ExperimentSpec } | { errors: Errors } {
  const errors: Errors = {};
  const nameError = checkName(draft.name);
  if (nameError) {
    errors.name = nameError;
  }
  if (!draft.cmd.trim()) {
    errors.cmd = 'The command must not be empty';
  }
  const allowed = rolesOf(draft.framework);
  const spec: Record<string, TaskSpec> = {};
  if (!draft.roles.length) {
    errors.roles = 'Name at least one role';
  }
  draft.roles.forEach((r, i) => {
    if (!allowed.includes(r.role)) {
      errors[`role${i}`] = `${draft.framework} has no role '${r.role}' (roles: ${allowed.join(', ')})`;
    } else if (r.role in spec) {
      errors[`role${i}`] = `${r.role} is listed twice`;
    }
    const replicas = Number(r.replicas);
    const replicaError = r.replicas.trim() ? checkReplicas(replicas) : 'is required';
    if (replicaError) {
      errors[`replicas${i}`] = `Replicas ${replicaError}`;
    }
    const resourceError = checkResources(r.resources);
    if (resourceError) {
      errors[`resources${i}`] = resourceError;
    }
    spec[r.role] = r.resources.trim()
      ? { ...r.kept, replicas, resources: r.resources.trim() }
      : { ...r.kept, replicas };
  });
  let environment: ExperimentSpec['environment'];
  const envValue = draft.envValue.trim();
  if (draft.envKind !== 'none') {
    if (!envValue) {
      errors.environment = draft.envKind === 'image' ? 'Name an image' : 'Name a stored environment';
    } else if (draft.envKind === 'name') {
      const envError = checkEnvironmentName(envValue);
      if (envError) {
        errors.environment = envError;
      }
    }
    environment = draft.envKind === 'image' ? { image: envValue } : { name: envValue };
  }
  const envVars = parseEnvVars(draft.envVars);
  if ('error' in envVars) {
    errors.envVars = envVars.error;
  }
  if (Object.keys(errors).length) {
    return { errors };
  }
  const meta: ExperimentSpec['meta'] = {
    ...draft.keptMeta,
    name: draft.name,
    framework: draft.framework,
    cmd: draft.cmd
  };
  if ('vars' in envVars && Object.keys(envVars.vars).length) {
    meta.envVars = envVars.vars;
  }
  return { spec: environment ? { meta, environment, spec } : { meta, spec } };
}

function Field(props: {
  label: string;
  error?: string;
  children: React.ReactNode;
}): JSX.Element {
  return (
    <label className="jp-SubmarinePanel-field">
      <span className="jp-SubmarinePanel-label">{props.label}</span>
      {props.children}
      {props.error && <span className="jp-SubmarinePanel-fieldError">{props.error}</span>}
    </label>
  );
}

export function CreateForm(props: {
  model: PanelModel;
  from?: ExperimentSpec;
}): JSX.Element {
  const { model, from } = props;
  const [draft, setDraft] = React.useState<IDraft>(() => (from ? fromSpec(from) : BLANK));
  const [errors, setErrors] = React.useState<Errors>({});
  const [serverError, setServerError] = React.useState<string | null>(null);
  const [notice, setNotice] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  const [environments, setEnvironments] = React.useState<Environment[]>([]);

  React.useEffect(() => {
    model.client.environments().then(setEnvironments, () => setEnvironments([]));
  }, [model]);

  const update = (change: Partial<IDraft>) => setDraft(d => ({ ...d, ...change }));
  const updateRole = (i: number, change: Partial<IRoleDraft>) =>
    setDraft(d => ({ ...d, roles: d.roles.map((r, j) => (j === i ? { ...r, ...change } : r)) }));
  const allowed = rolesOf(draft.framework);

  /** Validate locally; on success hand the spec to `then`, else show why not. */
  const withSpec = (then: (spec: ExperimentSpec) => void) => {
    setServerError(null);
    setNotice(null);
    const result = toSpec(draft);
    if ('errors' in result) {
      setErrors(result.errors);
      return;
    }
    setErrors({});
    then(result.spec);
  };

  const submit = (dryRun: boolean) =>
    withSpec(async spec => {
      setBusy(true);
      try {
        if (dryRun) {
          await model.client.check(spec);
          setNotice('The server accepts this spec.');
        } else {
          const created = await model.client.create(spec);
          model.show({ kind: 'detail', id: created.experimentId });
          model.refresh();
        }
      } catch (error) {
        setServerError(message(error));
      } finally {
        setBusy(false);
      }
    });

  const problems = Object.keys(errors).length;
  return (
    <form
      className="jp-SubmarinePanel-form"
      aria-label="New experiment"
      noValidate
      onSubmit={event => {
        event.preventDefault();
        submit(false);
      }}
    >
      <div className="jp-SubmarinePanel-toolbar">
        <button type="button" className="jp-mod-styled" onClick={() => model.show({ kind: 'list' })}>
          ← Experiments
        </button>
      </div>
      <h3 className="jp-SubmarinePanel-title">New experiment</h3>
      <Field label="Name" error={errors.name}>
        <input
          className="jp-mod-styled"
          name="name"
          placeholder="mnist-1"
          value={draft.name}
          onChange={e => update({ name: e.target.value })}
        />
      </Field>
      <Field label="Framework">
        <select
          className="jp-mod-styled"
          name="framework"
          value={draft.framework}
          onChange={e => update({ framework: e.target.value })}
        >
          {FRAMEWORKS.map(f => (
            <option key={f}>{f}</option>
          ))}
        </select>
      </Field>
      <Field label="Command" error={errors.cmd}>
        <textarea
          className="jp-mod-styled"
          name="cmd"
          rows={3}
          placeholder="python train.py --epochs 3"
          value={draft.cmd}
          onChange={e => update({ cmd: e.target.value })}
        />
      </Field>

      <fieldset className="jp-SubmarinePanel-fieldset">
        <legend>Roles</legend>
        {draft.roles.map((r, i) => (
          <div className="jp-SubmarinePanel-roleRow" key={i} data-role-index={i}>
            <select
              className="jp-mod-styled"
              aria-label={`Role ${i + 1}`}
              value={r.role}
              onChange={e => updateRole(i, { role: e.target.value })}
            >
              {(allowed.includes(r.role) ? allowed : [r.role, ...allowed]).map(role => (
                <option key={role}>{role}</option>
              ))}
            </select>
            <input
              className="jp-mod-styled"
              type="number"
              min={1}
              aria-label={`Role ${i + 1} replicas`}
              value={r.replicas}
              onChange={e => updateRole(i, { replicas: e.target.value })}
            />
            <input
              className="jp-mod-styled jp-SubmarinePanel-resources"
              aria-label={`Role ${i + 1} resources`}
              placeholder="resources, e.g. cpu=1,memory=2Gi,gpu=1"
              value={r.resources}
              onChange={e => updateRole(i, { resources: e.target.value })}
            />
            <button
              type="button"
              className="jp-mod-styled"
              title="Remove this role"
              aria-label={`Remove role ${i + 1}`}
              onClick={() => update({ roles: draft.roles.filter((_, j) => j !== i) })}
            >
              ✕
            </button>
            {[errors[`role${i}`], errors[`replicas${i}`], errors[`resources${i}`]]
              .filter(Boolean)
              .map(text => (
                <span key={text} className="jp-SubmarinePanel-fieldError">
                  {text}
                </span>
              ))}
          </div>
        ))}
        {errors.roles && <span className="jp-SubmarinePanel-fieldError">{errors.roles}</span>}
        <button
          type="button"
          className="jp-mod-styled"
          disabled={draft.roles.length >= allowed.length}
          onClick={() => {
            const free = allowed.find(role => !draft.roles.some(r => r.role === role));
            if (free) {
              update({ roles: [...draft.roles, { role: free, replicas: '1', resources: '' }] });
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
                onChange={() => update({ envKind: kind })}
              />
              {label}
            </label>
          ))}
        </div>
        {draft.envKind !== 'none' && (
          <Field label={draft.envKind === 'image' ? 'Image' : 'Environment name'} error={errors.environment}>
            <input
              className="jp-mod-styled"
              name="environment"
              list={draft.envKind === 'name' ? 'jp-SubmarinePanel-environments' : undefined}
              placeholder={draft.envKind === 'image' ? 'python:3.11' : 'my-env'}
              value={draft.envValue}
              onChange={e => update({ envValue: e.target.value })}
            />
          </Field>
        )}
        <datalist id="jp-SubmarinePanel-environments">
          {environments.map(env => (
            <option key={env.environmentId} value={env.environmentSpec.name} />
          ))}
        </datalist>
      </fieldset>

      <Field label="Environment variables (KEY=VALUE per line)" error={errors.envVars}>
        <textarea
          className="jp-mod-styled"
          name="envVars"
          rows={2}
          placeholder="EPOCHS=3"
          value={draft.envVars}
          onChange={e => update({ envVars: e.target.value })}
        />
      </Field>

      {problems > 0 && (
        <ErrorBox message={`Fix ${problems === 1 ? 'the problem' : `the ${problems} problems`} marked above.`} />
      )}
      <ErrorBox message={serverError} />
      {notice && <div className="jp-SubmarinePanel-notice">{notice}</div>}
      <div className="jp-SubmarinePanel-toolbar">
        <button type="submit" className="jp-mod-styled jp-mod-accept" disabled={busy}>
          Create
        </button>
        <button type="button" className="jp-mod-styled" disabled={busy} onClick={() => submit(true)}>
          Check
        </button>
        <button
          type="button"
          className="jp-mod-styled"
          onClick={() =>
            withSpec(spec => {
              const magic = magicCommand(spec);
              if ('text' in magic) {
                copy(magic.text, 'the %submarine command');
              } else {
                setNotice(`Not expressible as %submarine: ${magic.reason}`);
              }
            })
          }
        >
          Copy as %submarine
        </button>
        <button
          type="button"
          className="jp-mod-styled"
          onClick={() => withSpec(spec => copy(curlCommand(spec, model.client.url('experiment')), 'the curl command'))}
        >
          Copy as curl
        </button>
      </div>
    </form>
  );
}

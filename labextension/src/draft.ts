/**
 * The create form's draft: what the user typed, and the spec it stands for.
 * Only what the server never sees as typed is checked here; every rule of the
 * spec itself is the server's (see servercheck.ts).
 */
import { ExperimentMeta, ExperimentSpec, TaskSpec } from './api';
import { FRAMEWORK_ROLES } from './vocabulary';

/** The form's fields, as error keys; a role row's keys end in its index. */
export type TopField =
  'name' | 'framework' | 'cmd' | 'roles' | 'environment' | 'envVars' | 'target';

export interface IRoleDraft {
  role: string;
  replicas: string;
  resources: string;
  /** Whether the user changed this row (its problems show before Create). */
  touched?: boolean;
  /** What the form does not edit (per-role command, image, variables), kept as is. */
  kept?: Omit<TaskSpec, 'replicas' | 'resources'>;
}

export type EnvKind = 'none' | 'image' | 'name';

export interface IDraft {
  name: string;
  framework: string;
  cmd: string;
  roles: IRoleDraft[];
  envKind: EnvKind;
  envValue: string;
  envVars: string;
  /** `meta.target`: where it runs ('' for the server's default, or a re-run's same target). */
  target: string;
  /** The fields the user changed (their problems show before Create). */
  touched: TopField[];
  /** Meta fields the form does not edit (namespace, tags), kept as is. */
  keptMeta?: Partial<ExperimentMeta>;
}

/** A new draft: PyTorch with one Master, as `%submarine run` submits by default. */
export const BLANK: IDraft = {
  name: '',
  framework: 'PyTorch',
  cmd: '',
  roles: [{ role: 'Master', replicas: '1', resources: 'cpu=1,memory=1Gi' }],
  envKind: 'none',
  envValue: '',
  envVars: '',
  target: '',
  touched: []
};

export function rolesOf(framework: string): readonly string[] {
  return FRAMEWORK_ROLES[framework.toLowerCase()] ?? [];
}

/** A draft of `spec`, named `name` (by default, a copy's name). */
export function fromSpec(
  spec: ExperimentSpec,
  name = `${spec.meta.name}-copy`.slice(0, 63)
): IDraft {
  const env = spec.environment;
  const {
    name: _name,
    framework: _framework,
    cmd: _cmd,
    envVars: _envVars,
    experimentId: _id,
    target,
    ...keptMeta
  } = spec.meta;
  return {
    keptMeta,
    name,
    framework: spec.meta.framework,
    cmd: spec.meta.cmd,
    roles: Object.entries(spec.spec).map(
      ([role, { replicas, resources, ...kept }]) => ({
        role,
        replicas: String(replicas ?? 1),
        resources: resources ?? '',
        kept
      })
    ),
    envKind: env?.image ? 'image' : env?.name ? 'name' : 'none',
    envValue: env?.image ?? env?.name ?? '',
    envVars: Object.entries(spec.meta.envVars ?? {})
      .map(([key, value]) => `${key}=${value}`)
      .join('\n'),
    target: target ?? '',
    touched: []
  };
}

/**
 * What the form warns about without refusing it: a PyTorch job with Workers and
 * no Master gets no MASTER_ADDR, RANK or WORLD_SIZE from the training-operator.
 */
export function rolesWarning(draft: IDraft): string | null {
  const roles = draft.roles.map(r => r.role);
  if (
    draft.framework.toLowerCase() !== 'pytorch' ||
    !roles.includes('Worker') ||
    roles.includes('Master')
  ) {
    return null;
  }
  return (
    'Workers without a Master: the operator then sets no MASTER_ADDR, RANK or ' +
    "WORLD_SIZE, so a script that reads them (torch.distributed's env:// " +
    "initialisation does) fails with KeyError: 'RANK'. Add a Master unless " +
    'the script needs none of them.'
  );
}

export type Errors = Record<string, string>;

export function addError(errors: Errors, key: string, text: string): void {
  errors[key] = errors[key] ? `${errors[key]}; ${text}` : text;
}

/** Parse `KEY=VALUE` lines (blank lines ignored), or say which line is wrong. */
function parseEnvVars(text: string): {
  vars: Record<string, string>;
  error?: string;
} {
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) {
      continue;
    }
    const at = line.indexOf('=');
    const key = at < 0 ? '' : line.slice(0, at).trim();
    if (!key) {
      return { vars, error: `'${line.trim()}' is not KEY=VALUE` };
    }
    vars[key] = line.slice(at + 1);
  }
  return { vars };
}

/**
 * The draft as the spec the server judges, and the problems only the form can
 * see: what the server never receives as typed (the KEY=VALUE lines, a role
 * listed twice, which a spec's role map cannot even hold).
 */
export function toSpec(draft: IDraft): { spec: ExperimentSpec; local: Errors } {
  const local: Errors = {};
  const spec: Record<string, TaskSpec> = {};
  draft.roles.forEach((r, i) => {
    if (r.role in spec) {
      addError(local, `role${i}`, `${r.role} is listed twice`);
      return;
    }
    // An empty count goes as 0, so the server says what it needs.
    const task: TaskSpec = { ...r.kept, replicas: Number(r.replicas) };
    if (r.resources.trim()) {
      task.resources = r.resources.trim();
    }
    spec[r.role] = task;
  });
  const envVars = parseEnvVars(draft.envVars);
  if (envVars.error) {
    local.envVars = envVars.error;
  }
  const meta: ExperimentMeta = {
    ...draft.keptMeta,
    name: draft.name,
    framework: draft.framework,
    cmd: draft.cmd
  };
  if (Object.keys(envVars.vars).length) {
    meta.envVars = envVars.vars;
  }
  if (draft.target) {
    meta.target = draft.target;
  }
  if (draft.envKind === 'none') {
    return { spec: { meta, spec }, local };
  }
  // A blank value goes as {}, so the server says what it needs.
  const value = draft.envValue.trim();
  const environment = !value
    ? {}
    : draft.envKind === 'image'
      ? { image: value }
      : { name: value };
  return { spec: { meta, environment, spec }, local };
}

import { ExperimentSpec } from './api';

/** Quote for a POSIX shell (and shlex) only when needed. */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text)
    ? text
    : `'${text.replace(/'/g, "'\\''")}'`;
}

/** The spec as a new submission: the server assigns the id again. */
function submittable(spec: ExperimentSpec): ExperimentSpec {
  const { experimentId: _id, ...meta } = spec.meta;
  return { ...spec, meta };
}

/** `curl` that submits this spec to the same server (token from $JUPYTER_TOKEN). */
export function curlCommand(spec: ExperimentSpec, endpoint: string): string {
  return [
    `curl -X POST ${shellQuote(endpoint)}`,
    `  -H "Authorization: token $JUPYTER_TOKEN"`,
    `  -H 'Content-Type: application/json'`,
    `  -d ${shellQuote(JSON.stringify(submittable(spec)))}`
  ].join(' \\\n');
}

/** Frameworks for which `%submarine run` adds a Master unless told `--no-master`. */
const MASTER_BY_DEFAULT = ['pytorch', 'xgboost'];

/**
 * The `%submarine run` line that submits this spec, or why none can: the magic
 * has one resources flag for every role and no flag for an Evaluator or for
 * per-role commands, images or variables.
 */
export function magicCommand(
  spec: ExperimentSpec
): { text: string } | { reason: string } {
  const { meta, environment } = spec;
  if (meta.cmd.includes('\n')) {
    return { reason: 'the command spans several lines' };
  }
  const args = [
    '%submarine run',
    `--name ${shellQuote(meta.name)}`,
    `--framework ${shellQuote(meta.framework)}`
  ];
  if (meta.target) {
    args.push(`--target ${shellQuote(meta.target)}`);
  }
  if (meta.namespace && meta.namespace !== 'default') {
    args.push(`--namespace ${shellQuote(meta.namespace)}`);
  }
  const masterByDefault = MASTER_BY_DEFAULT.includes(
    meta.framework.toLowerCase()
  );
  if (masterByDefault && !('Master' in spec.spec)) {
    args.push('--no-master');
  }
  const resources = new Set<string>();
  for (const [role, task] of Object.entries(spec.spec)) {
    const replicas = task.replicas ?? 1;
    if (task.cmd || task.image || Object.keys(task.envVars ?? {}).length) {
      return {
        reason: `role ${role} overrides its command, image or variables`
      };
    }
    resources.add(task.resources ?? '');
    if (role === 'Worker') {
      args.push(`--workers ${replicas}`);
    } else if (role === 'Ps') {
      args.push(`--ps ${replicas}`);
    } else if (role === 'Master' && replicas === 1) {
      args.push(...(masterByDefault ? [] : ['--master']));
    } else if (role === 'Chief' && replicas === 1) {
      args.push('--chief');
    } else {
      return { reason: `the magic has no flag for ${replicas} × ${role}` };
    }
  }
  if (resources.size > 1) {
    return { reason: 'the roles ask for different resources' };
  }
  const [shared] = resources;
  if (shared) {
    args.push(`--resources ${shellQuote(shared)}`);
  }
  if (environment?.image) {
    args.push(`--image ${shellQuote(environment.image)}`);
  } else if (environment?.name) {
    args.push(`--environment ${shellQuote(environment.name)}`);
  }
  for (const [key, value] of Object.entries(meta.envVars ?? {})) {
    args.push(`--env ${shellQuote(`${key}=${value}`)}`);
  }
  for (const tag of meta.tags ?? []) {
    args.push(`--tag ${shellQuote(tag)}`);
  }
  return { text: `${args.join(' ')} -- ${meta.cmd}` };
}

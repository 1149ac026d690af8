/**
 * Client-side checks mirroring the server's spec rules (submarine_jupyter/spec.py),
 * so the form points at a mistake before submitting; the server stays the judge.
 */

export const FRAMEWORKS = ['TensorFlow', 'PyTorch', 'XGBoost'] as const;

/** Role names each framework accepts, exact-case, as the training-operator names them. */
export const FRAMEWORK_ROLES: Record<string, readonly string[]> = {
  tensorflow: ['Chief', 'Master', 'Ps', 'Worker', 'Evaluator'],
  pytorch: ['Master', 'Worker'],
  xgboost: ['Master', 'Worker']
};

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
const QUANTITY = /^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([a-zA-Z]*|[eE][0-9]+)$/;
const RESOURCE_KEYS = ['cpu', 'memory', 'gpu', 'nvidia.com/gpu'];
const SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60
};

export function rolesOf(framework: string): readonly string[] {
  return FRAMEWORK_ROLES[framework.toLowerCase()] ?? [];
}

export function checkName(name: string): string | null {
  if (name.length > 63 || !DNS1123_LABEL.test(name)) {
    return `'${name}' is not a DNS-1123 label: use lower-case letters, digits and '-', start and end with a letter or digit, at most 63 characters`;
  }
  return null;
}

export function checkEnvironmentName(name: string): string | null {
  return ENV_NAME.test(name)
    ? null
    : `'${name}' is not a valid environment name: letters, digits, '.', '_' and '-', starting with a letter or digit`;
}

function parseQuantity(text: string): number {
  const match = QUANTITY.exec(text.trim());
  if (!match) {
    throw new Error(`'${text}' is not a quantity (e.g. 2, 500m, 1024M, 2Gi)`);
  }
  const [, num, suffix] = match;
  if (/^[eE][0-9]+$/.test(suffix)) {
    return Number(num) * 10 ** Number(suffix.slice(1));
  }
  if (!(suffix in SUFFIX)) {
    throw new Error(
      `'${text}' has an unknown unit '${suffix}' (use m, k, M, G, T, Ki, Mi, Gi, Ti ...)`
    );
  }
  return Number(num) * SUFFIX[suffix];
}

function isWhole(value: number): boolean {
  return Math.abs(value - Math.round(value)) <= 1e-9 * Math.max(1, value);
}

/** Check `cpu=1,memory=2Gi,gpu=1`; null when valid (or empty). */
export function checkResources(text: string): string | null {
  if (!text.trim()) {
    return null;
  }
  const seen = new Set<string>();
  for (const pair of text.split(',')) {
    const at = pair.indexOf('=');
    const key = at < 0 ? '' : pair.slice(0, at).trim();
    const value = at < 0 ? '' : pair.slice(at + 1).trim();
    if (!key || !value) {
      return `'${pair.trim()}' is not key=value (e.g. cpu=1,memory=2Gi,gpu=1)`;
    }
    if (!RESOURCE_KEYS.includes(key)) {
      return `unknown resource '${key}' (known: ${RESOURCE_KEYS.join(', ')})`;
    }
    const name = key === 'nvidia.com/gpu' ? 'gpu' : key;
    if (seen.has(name)) {
      return `'${name}' is given twice`;
    }
    seen.add(name);
    let quantity: number;
    try {
      quantity = parseQuantity(value);
    } catch (error) {
      return `${key}=${value}: ${(error as Error).message}`;
    }
    if (quantity <= 0 && name !== 'gpu') {
      return `${key}=${value} must be greater than zero`;
    }
    if (name === 'memory' && !isWhole(quantity)) {
      return `memory=${value} is not a whole number of bytes`;
    }
    if (name === 'gpu' && !isWhole(quantity)) {
      return `${key}=${value} must be a whole number of devices`;
    }
  }
  return null;
}

export function checkReplicas(replicas: number): string | null {
  return Number.isInteger(replicas) && replicas >= 1
    ? null
    : 'must be a whole number, at least 1';
}

/** Parse `KEY=VALUE` lines (blank lines ignored) or say which line is wrong. */
export function parseEnvVars(
  text: string
): { vars: Record<string, string> } | { error: string } {
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) {
      continue;
    }
    const at = line.indexOf('=');
    const key = at < 0 ? '' : line.slice(0, at).trim();
    if (!key) {
      return { error: `'${line.trim()}' is not KEY=VALUE` };
    }
    vars[key] = line.slice(at + 1);
  }
  return { vars };
}

/**
 * A refused template submission, put next to the parameters it names.
 *
 * Submarine's refusals (`Parameters contains illegal key: ['x']`, `Template
 * contains unmapped value: ['meta.cmd:lr', 'lr']`, `spec.Worker.replicas: 'two'
 * is not a whole number`) name parameters in the message only: the envelope has
 * no field errors for them. A key `path:name` is parameter `name` at that path.
 * The field errors of a filled-in spec the server refuses go where a parameter
 * has the field's name (`spec.Worker.replicas`).
 */
import { ApiError } from '../api';
import { addError, Errors } from '../draft';

const LISTED = /^(.*?):\s*\[(.*)\]\s*$/;
const QUOTED = /'((?:[^'\\]|\\.)*)'/g;

/** Parameter name -> what the server said about it. */
export function placeRefusal(error: unknown, names: string[]): Errors {
  const params: Errors = {};
  if (!(error instanceof ApiError)) {
    return params;
  }
  const text = error.message;
  const known = (key: string): string | undefined =>
    [key, key.slice(key.lastIndexOf(':') + 1)].find(n => names.includes(n));
  const listed = LISTED.exec(text);
  if (listed) {
    for (const [, key] of listed[2].matchAll(QUOTED)) {
      const name = known(key);
      if (name && !params[name]) {
        params[name] = listed[1];
      }
    }
  } else {
    const named = names
      .filter(name => text.startsWith(`${name}: `))
      .sort((a, b) => b.length - a.length)[0];
    if (named) {
      params[named] = text.slice(named.length + 2);
    }
  }
  for (const problem of error.fieldErrors) {
    if (problem.field && names.includes(problem.field)) {
      addError(params, problem.field, problem.message);
    }
  }
  return params;
}

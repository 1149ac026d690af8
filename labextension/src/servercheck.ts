/**
 * The server's judgement of a draft: debounced `?dryRun=true` checks, and its
 * field errors (dotted paths) placed on the form's fields.
 */
import * as React from 'react';

import { ApiError, ExperimentSpec, FieldError, SubmarineClient } from './api';
import { message } from './common';
import { Errors, IDraft, addError } from './draft';

/** Quiet time after an edit before the server checks the draft (`?dryRun=true`). */
export const CHECK_DELAY_MS = 400;

/** The server's verdict on a draft: accepted, or why not. */
export interface IVerdict {
  accepted: boolean;
  fieldErrors: FieldError[];
  message: string | null;
}

const ACCEPTED: IVerdict = { accepted: true, fieldErrors: [], message: null };

export function refusal(error: unknown): IVerdict {
  return error instanceof ApiError
    ? {
        accepted: false,
        fieldErrors: error.fieldErrors,
        message: error.message
      }
    : { accepted: false, fieldErrors: [], message: message(error) };
}

/**
 * The form's key for a refused field's dotted path (`meta.name`,
 * `spec.Worker.resources`, ...), and what of the path is left to say; null
 * for a field the form does not show.
 */
function placeOf(
  path: string[],
  draft: IDraft
): { key: string; rest: string[] } | null {
  const [head, field, ...rest] = path;
  if (head === 'meta') {
    if (
      field === 'name' ||
      field === 'framework' ||
      field === 'cmd' ||
      field === 'target'
    ) {
      return { key: field, rest };
    }
    return field === 'envVars' ? { key: 'envVars', rest } : null;
  }
  if (head === 'environment') {
    return draft.envKind === 'none'
      ? null
      : { key: 'environment', rest: [field, ...rest].filter(Boolean) };
  }
  if (head === 'spec') {
    const i = draft.roles.findIndex(r => r.role === field);
    if (field === undefined || i < 0) {
      return { key: 'roles', rest: [field, ...rest].filter(Boolean) };
    }
    const [part, ...more] = rest;
    if (part === 'replicas' || part === 'resources') {
      return { key: `${part}${i}`, rest: more };
    }
    return { key: `role${i}`, rest };
  }
  return null;
}

/**
 * The server's field errors put on the form's fields; what fits no field (and
 * any refusal without field errors) goes to the error box.
 */
export function placeVerdict(
  verdict: IVerdict | null,
  draft: IDraft
): { fields: Errors; box: string | null } {
  const fields: Errors = {};
  if (!verdict || verdict.accepted) {
    return { fields, box: null };
  }
  if (!verdict.fieldErrors.length) {
    return { fields, box: verdict.message };
  }
  const unplaced: string[] = [];
  for (const problem of verdict.fieldErrors) {
    const place = problem.field
      ? placeOf(problem.field.split('.'), draft)
      : null;
    if (place) {
      const where = place.rest.join('.');
      addError(
        fields,
        place.key,
        where ? `${where}: ${problem.message}` : problem.message
      );
    } else {
      unplaced.push(
        problem.field ? `${problem.field}: ${problem.message}` : problem.message
      );
    }
  }
  return { fields, box: unplaced.length ? unplaced.join('; ') : null };
}

/**
 * Server checks of the draft: `schedule` one after a quiet `CHECK_DELAY_MS`,
 * or `checkNow`. A newer check (or `cancel`) supersedes an older one, whose
 * answer is then dropped (resolves to null) and whose request is aborted.
 */
export function useServerCheck(client: SubmarineClient): {
  checkNow: (spec: ExperimentSpec) => Promise<IVerdict | null>;
  schedule: (spec: ExperimentSpec, then: (verdict: IVerdict) => void) => void;
  cancel: () => void;
} {
  const serial = React.useRef(0);
  const timer = React.useRef(0);
  const request = React.useRef<AbortController | null>(null);

  const cancel = React.useCallback(() => {
    serial.current++;
    window.clearTimeout(timer.current);
    request.current?.abort();
    request.current = null;
  }, []);

  const checkNow = React.useCallback(
    async (spec: ExperimentSpec): Promise<IVerdict | null> => {
      cancel();
      const mine = serial.current;
      const controller = new AbortController();
      request.current = controller;
      let verdict: IVerdict;
      try {
        await client.check(spec, controller.signal);
        verdict = ACCEPTED;
      } catch (error) {
        verdict = refusal(error);
      }
      return mine === serial.current ? verdict : null;
    },
    [client, cancel]
  );

  const schedule = React.useCallback(
    (spec: ExperimentSpec, then: (verdict: IVerdict) => void) => {
      cancel();
      timer.current = window.setTimeout(() => {
        void checkNow(spec).then(verdict => verdict && then(verdict));
      }, CHECK_DELAY_MS);
    },
    [cancel, checkNow]
  );

  React.useEffect(() => cancel, [cancel]);
  return { checkNow, schedule, cancel };
}

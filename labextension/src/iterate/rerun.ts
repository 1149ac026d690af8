/**
 * "Re-run with changes": the spec a re-run starts from, and the JSON merge patch
 * (RFC 7396) that turns it into the edited one, which `POST .../rerun` applies.
 */
import { Experiment, ExperimentSpec } from '../api';

/** What the re-run form edits: the experiment it re-runs and the spec it starts from. */
export interface IRerun {
  experimentId: string;
  name: string;
  /** Its pending spec (PATCHed after it ended) if any, else the spec that ran. */
  base: ExperimentSpec;
  /** Where it ran: the re-run runs there too unless the changes name another. */
  target: string;
}

export function rerunOf(experiment: Experiment): IRerun {
  const base = structuredClone(experiment.pendingSpec ?? experiment.spec);
  // The id is the old experiment's; the server gives the new one its own.
  delete base.meta.experimentId;
  return {
    experimentId: experiment.experimentId,
    name: experiment.name,
    base,
    target: experiment.target
  };
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The merge patch from `from` to `to`: changed values set, keys `to` lacks set
 * to null (removed), objects compared key by key, anything else (arrays
 * included) replaced whole. Undefined when they are equal.
 */
export function mergePatch(from: unknown, to: unknown): Json | undefined {
  if (!isObject(from) || !isObject(to)) {
    return JSON.stringify(from) === JSON.stringify(to)
      ? undefined
      : (structuredClone(to) as Json);
  }
  const patch: { [key: string]: Json } = {};
  for (const key of Object.keys(from)) {
    if (!(key in to) || to[key] === undefined) {
      if (from[key] !== undefined) {
        patch[key] = null;
      }
    }
  }
  for (const [key, value] of Object.entries(to)) {
    if (value === undefined) {
      continue;
    }
    const change = mergePatch(from[key], value);
    if (change !== undefined) {
      patch[key] = change;
    }
  }
  return Object.keys(patch).length ? patch : undefined;
}

/** The changes from the re-run's spec to `edited`, as `POST .../rerun` takes them. */
export function changesTo(
  rerun: IRerun,
  edited: ExperimentSpec
): Record<string, Json> {
  const patch = mergePatch(rerun.base, edited);
  return isObject(patch) ? patch : {};
}

/** A value as the pending-spec notice quotes it: JSON, cut short. */
function quoted(value: unknown): string {
  if (value === undefined) {
    return '(none)';
  }
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}

/** Each value that differs from `from` to `to`, as `dotted.path: old → new`. */
export function changedPaths(from: unknown, to: unknown): string[] {
  const lines: string[] = [];
  const walk = (
    patch: Json | undefined,
    before: unknown,
    after: unknown,
    at: string
  ) => {
    if (isObject(patch) && isObject(after)) {
      for (const [key, value] of Object.entries(patch)) {
        const old = isObject(before) ? before[key] : undefined;
        walk(value, old, after[key], at ? `${at}.${key}` : key);
      }
      return;
    }
    lines.push(`${at}: ${quoted(before)} → ${quoted(after)}`);
  };
  walk(mergePatch(from, to), from, to, '');
  return lines;
}

/** Whether two specs say the same, the experiment ids aside. */
export function sameSpec(a: ExperimentSpec, b: ExperimentSpec): boolean {
  const bare = (spec: ExperimentSpec) => {
    const { experimentId: _id, ...meta } = spec.meta;
    return { ...spec, meta };
  };
  return mergePatch(bare(a), bare(b)) === undefined;
}

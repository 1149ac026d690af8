/**
 * The chart widget's messages and their effect on the model's `series`. Pure.
 *
 * Kernel to front end: `{type: "append", series}` adds each series' points to the
 * series with its key (a new key is a new series); `{type: "reset", series}`
 * replaces them all. Front end to kernel: `{type: "resync"}`, once per model.
 */
import { IChartSeries } from '../chart/series';

/** A series as the widget's state and messages carry it. */
export interface IWidgetSeries {
  key: string;
  label: string;
  steps: number[];
  values: number[];
}

export type KernelMessage =
  | { type: 'append'; series: IWidgetSeries[] }
  | { type: 'reset'; series: IWidgetSeries[] };

export const RESYNC = { type: 'resync' } as const;

function isSeries(value: unknown): value is IWidgetSeries {
  const s = value as Partial<IWidgetSeries> | null;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.key === 'string' &&
    Array.isArray(s.steps) &&
    Array.isArray(s.values) &&
    s.steps.length === s.values.length
  );
}

/** The message, if it is one of the kernel's (anything else is ignored). */
export function kernelMessage(content: unknown): KernelMessage | null {
  const m = content as { type?: unknown; series?: unknown } | null;
  if (
    typeof m !== 'object' ||
    m === null ||
    (m.type !== 'append' && m.type !== 'reset') ||
    !Array.isArray(m.series) ||
    !m.series.every(isSeries)
  ) {
    return null;
  }
  return { type: m.type, series: m.series };
}

function copy(s: IWidgetSeries): IWidgetSeries {
  return {
    key: s.key,
    label: typeof s.label === 'string' ? s.label : s.key,
    steps: [...s.steps],
    values: [...s.values]
  };
}

/** The series after `message`; never the same arrays as before (a new state). */
export function applyMessage(
  held: readonly IWidgetSeries[],
  message: KernelMessage
): IWidgetSeries[] {
  if (message.type === 'reset') {
    return message.series.map(copy);
  }
  const next = held.map(copy);
  for (const part of message.series) {
    const old = next.find(s => s.key === part.key);
    if (old) {
      old.steps.push(...part.steps);
      old.values.push(...part.values);
      old.label = typeof part.label === 'string' ? part.label : old.label;
    } else {
      next.push(copy(part));
    }
  }
  return next;
}

/** The widget's series as the chart draws them (the same fields, checked). */
export function chartSeries(state: unknown): IChartSeries[] {
  return Array.isArray(state) ? state.filter(isSeries).map(copy) : [];
}

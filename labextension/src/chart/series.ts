/**
 * What a chart draws: named lines of (step, value) points, and the one shared x
 * axis uPlot wants them on. Pure functions, no DOM.
 */
import type uPlot from 'uplot';

/** One line: `key` identifies it across updates, `label` is shown in the legend. */
export interface IChartSeries {
  key: string;
  label: string;
  steps: number[];
  values: number[];
  /** The line's colour; by default the palette's, in the order of the lines. */
  color?: string;
}

/**
 * The lines on one x axis, as uPlot draws them: the sorted union of every line's
 * steps, and per line its value at each step (null where it has none; the last
 * value wins where a line repeats a step, as after a restart).
 */
export function aligned(series: readonly IChartSeries[]): uPlot.AlignedData {
  const all = new Set<number>();
  for (const line of series) {
    line.steps.forEach(step => all.add(step));
  }
  const xs = Float64Array.from(all).sort();
  const position = new Map<number, number>();
  xs.forEach((x, i) => position.set(x, i));
  const ys = series.map(line => {
    const column: (number | null)[] = new Array<number | null>(xs.length).fill(
      null
    );
    line.steps.forEach((step, i) => {
      const value = line.values[i];
      column[position.get(step)!] = Number.isFinite(value) ? value : null;
    });
    return column;
  });
  return [Array.from(xs), ...ys];
}

/** The points uPlot holds for each line: what it draws, gaps left out. */
export function drawnSeries(
  data: uPlot.AlignedData,
  lines: readonly { key: string; label: string }[]
): IChartSeries[] {
  const xs = data[0] as ArrayLike<number>;
  return lines.map((line, i) => {
    const ys = data[i + 1] as ArrayLike<number | null | undefined>;
    const steps: number[] = [];
    const values: number[] = [];
    for (let j = 0; j < xs.length; j++) {
      const y = ys[j];
      if (y !== null && y !== undefined) {
        steps.push(xs[j]);
        values.push(y);
      }
    }
    return { key: line.key, label: line.label, steps, values };
  });
}

/** Whether two lists of lines have the same keys, labels and colours in order. */
export function sameLines(
  a: readonly IChartSeries[],
  b: readonly IChartSeries[]
): boolean {
  return (
    a.length === b.length &&
    a.every(
      (line, i) =>
        line.key === b[i].key &&
        line.label === b[i].label &&
        line.color === b[i].color
    )
  );
}

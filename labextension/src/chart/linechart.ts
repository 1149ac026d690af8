/**
 * A line chart of metric series (uPlot on a canvas), shared by the panel and the
 * notebook widget: sized to its host's width, redrawn in Lab's colours when the
 * theme changes, and cheap to update (new points only reset the data).
 */
import uPlot from 'uplot';

import { formatValue } from './format';
import { IChartSeries, aligned, drawnSeries, sameLines } from './series';
import { IChartTheme, chartTheme, lineColor, watchTheme } from './theme';

export interface IChartOptions {
  /** Height of the plot with its axes, in pixels (the legend comes below). */
  height: number;
  xLabel: string;
  yLabel: string;
  title: string;
}

export const DEFAULT_OPTIONS: IChartOptions = {
  height: 240,
  xLabel: 'step',
  yLabel: '',
  title: ''
};

/** A chart's host element: tests and tools reach the chart through it. */
export interface IChartHost extends HTMLElement {
  lineChart?: LineChart;
}

/** Tick spacings for steps that are whole numbers: no tick at step 0.5. */
const WHOLE_INCREMENTS = [1, 2, 5]
  .flatMap(m => Array.from({ length: 10 }, (_, e) => m * 10 ** e))
  .sort((a, b) => a - b);

function axis(theme: IChartTheme, label: string, whole = false): uPlot.Axis {
  return {
    incrs: whole ? WHOLE_INCREMENTS : undefined,
    label: label || undefined,
    stroke: theme.text,
    font: theme.font,
    labelFont: theme.labelFont,
    labelSize: label ? 18 : 0,
    grid: { stroke: theme.grid, width: 1 },
    ticks: { stroke: theme.axis, width: 1 }
  };
}

/**
 * A legend value: the point under the cursor, else the line's newest point (so
 * the legend reads as the latest values until the user points somewhere).
 */
function legendValue(
  u: uPlot,
  raw: number | null,
  seriesIdx: number,
  idx: number | null
): string {
  if (idx === null || idx === undefined) {
    const column = u.data[seriesIdx] as ArrayLike<number | null | undefined>;
    for (let i = column.length - 1; i >= 0; i--) {
      const value = column[i];
      if (value !== null && value !== undefined) {
        return formatValue(value);
      }
    }
    return '—';
  }
  return formatValue(raw);
}

export class LineChart {
  constructor(
    readonly host: HTMLElement,
    options: Partial<IChartOptions> = {}
  ) {
    this.options = { ...DEFAULT_OPTIONS, ...options };
    host.classList.add('jp-SubmarineChart');
    (host as IChartHost).lineChart = this;
    this.resizes = new ResizeObserver(() => this.fit());
    this.resizes.observe(host);
    this.unwatchTheme = watchTheme(() => this.rebuild());
  }

  /** Draw these lines (and these options); only the data changes when the lines do not. */
  update(series: IChartSeries[], options: Partial<IChartOptions> = {}): void {
    const next = { ...this.options, ...options };
    const whole = series.every(line => line.steps.every(Number.isInteger));
    const shapeChanged =
      !sameLines(series, this.series) ||
      whole !== this.wholeSteps ||
      JSON.stringify(next) !== JSON.stringify(this.options);
    this.series = series;
    this.options = next;
    this.wholeSteps = whole;
    this.host.dataset.points = String(
      series.reduce((n, line) => n + line.steps.length, 0)
    );
    if (shapeChanged || !this.plot) {
      this.rebuild();
    } else {
      this.plot.setData(aligned(series));
    }
  }

  /** The points the chart holds per line: what it draws. */
  drawn(): IChartSeries[] {
    return this.plot ? drawnSeries(this.plot.data, this.series) : [];
  }

  dispose(): void {
    this.resizes.disconnect();
    this.unwatchTheme();
    this.plot?.destroy();
    this.plot = null;
    delete (this.host as IChartHost).lineChart;
  }

  /** A new plot: for new lines, new options or a new theme (colours are baked in). */
  private rebuild(): void {
    this.plot?.destroy();
    this.plot = null;
    const width = this.host.clientWidth;
    if (width <= 0) {
      return; // not laid out yet: fit() builds it once the host has a width
    }
    const theme = chartTheme(this.host);
    this.theme = theme;
    const { height, xLabel, yLabel, title } = this.options;
    const options: uPlot.Options = {
      width,
      height,
      title: title || undefined,
      scales: { x: { time: false } },
      axes: [axis(theme, xLabel, this.wholeSteps), axis(theme, yLabel)],
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      series: [
        { label: xLabel || 'x', value: legendValue },
        ...this.series.map((line, i) => ({
          label: line.label,
          value: legendValue,
          stroke: line.color ?? lineColor(i),
          width: 1.5,
          spanGaps: true
        }))
      ]
    };
    this.plot = new uPlot(options, aligned(this.series), this.host);
  }

  private fit(): void {
    const width = this.host.clientWidth;
    if (!this.plot) {
      if (width > 0) {
        this.rebuild();
      }
    } else if (width > 0 && width !== this.plot.width) {
      this.plot.setSize({ width, height: this.options.height });
    }
  }

  /** The colours and fonts of the plot shown (read from the theme when it was made). */
  theme: IChartTheme | null = null;

  private options: IChartOptions;
  private series: IChartSeries[] = [];
  /** Whether every step is a whole number (then ticks are too). */
  private wholeSteps = true;
  private plot: uPlot | null = null;
  private readonly resizes: ResizeObserver;
  private readonly unwatchTheme: () => void;
}

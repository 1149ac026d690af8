import { DOMWidgetView } from '@jupyter-widgets/base';

import { IChartOptions, LineChart } from '../chart/linechart';
import { chartSeries } from './messages';

/** The chart widget's view: the panel's LineChart over the model's state. */
export class MetricsChartView extends DOMWidgetView {
  render(): void {
    this.el.classList.add('jp-SubmarineChartWidget');
    this.chart = new LineChart(this.el, this.chartOptions());
    this.update();
  }

  /** Called by the base class on every change of the model. */
  update(): void {
    this.chart?.update(
      chartSeries(this.model.get('series')),
      this.chartOptions()
    );
  }

  remove(): void {
    this.chart?.dispose();
    this.chart = null;
    super.remove();
  }

  private chartOptions(): IChartOptions {
    const height = Number(this.model.get('height'));
    return {
      title: String(this.model.get('title') ?? ''),
      xLabel: String(this.model.get('x_label') ?? ''),
      yLabel: String(this.model.get('y_label') ?? ''),
      height: Number.isFinite(height) && height > 0 ? height : 240
    };
  }

  private chart: LineChart | null = null;
}

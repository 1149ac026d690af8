import {
  DOMWidgetModel,
  IBackboneModelOptions,
  ISerializers
} from '@jupyter-widgets/base';

import { DEFAULT_OPTIONS } from '../chart/linechart';
import { IWidgetSeries, RESYNC, applyMessage, kernelMessage } from './messages';
import { MODULE_NAME, MODULE_VERSION } from './version';

/**
 * The chart widget's model: `title`, `x_label`, `y_label`, `height` and `series`.
 * Points the kernel sends as messages are kept in `series` (set, never saved back),
 * so a notebook saved with its widget state shows them without a kernel.
 */
export class MetricsChartModel extends DOMWidgetModel {
  static serializers: ISerializers = { ...DOMWidgetModel.serializers };

  defaults(): ReturnType<DOMWidgetModel['defaults']> {
    return {
      ...super.defaults(),
      _model_name: 'MetricsChartModel',
      _model_module: MODULE_NAME,
      _model_module_version: MODULE_VERSION,
      _view_name: 'MetricsChartView',
      _view_module: MODULE_NAME,
      _view_module_version: MODULE_VERSION,
      title: DEFAULT_OPTIONS.title,
      x_label: DEFAULT_OPTIONS.xLabel,
      y_label: DEFAULT_OPTIONS.yLabel,
      height: DEFAULT_OPTIONS.height,
      series: [] as IWidgetSeries[]
    };
  }

  initialize(
    attributes: Parameters<DOMWidgetModel['initialize']>[0],
    options: IBackboneModelOptions
  ): void {
    super.initialize(attributes, options);
    this.on('msg:custom', (content: unknown) => this.receive(content));
    // A kernel holding more than this state answers with a "reset" (no kernel: no-op).
    this.send(RESYNC, {});
  }

  private receive(content: unknown): void {
    const message = kernelMessage(content);
    if (message) {
      const held = (this.get('series') as IWidgetSeries[] | undefined) ?? [];
      this.set('series', applyMessage(held, message));
    }
  }
}

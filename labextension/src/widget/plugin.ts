import { JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IJupyterWidgetRegistry } from '@jupyter-widgets/base';

import { MetricsChartModel } from './model';
import { MetricsChartView } from './view';
import { MODULE_NAME, MODULE_VERSION } from './version';

/**
 * Registers the chart widget (the kernel's `MetricsChart`) with the Jupyter
 * widget manager; without the manager it does nothing and the panel still works.
 */
export const widgetPlugin: JupyterFrontEndPlugin<void> = {
  id: 'submarine-jupyter:widgets',
  description: 'The live metrics chart widget for notebooks.',
  autoStart: true,
  optional: [IJupyterWidgetRegistry],
  activate: (_app, registry: IJupyterWidgetRegistry | null) => {
    registry?.registerWidget({
      name: MODULE_NAME,
      version: MODULE_VERSION,
      exports: { MetricsChartModel, MetricsChartView }
    });
  }
};

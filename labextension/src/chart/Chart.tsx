import * as React from 'react';

import { IChartOptions, LineChart } from './linechart';
import { IChartSeries } from './series';

/**
 * A LineChart as a React element; `series` should keep its identity while its
 * points do not change (memoize it), since each new array redraws the data.
 */
export function Chart(
  props: Partial<IChartOptions> & {
    series: IChartSeries[];
    /** Names the chart for assistive technology and tests. */
    label: string;
  }
): JSX.Element {
  const { series, label, height, xLabel, yLabel, title } = props;
  const host = React.useRef<HTMLDivElement>(null);
  const chart = React.useRef<LineChart | null>(null);

  React.useEffect(() => {
    const created = new LineChart(host.current!);
    chart.current = created;
    return () => {
      created.dispose();
      chart.current = null;
    };
  }, []);

  React.useEffect(() => {
    const options: Partial<IChartOptions> = { height, xLabel, yLabel, title };
    Object.keys(options).forEach(key => {
      if (options[key as keyof IChartOptions] === undefined) {
        delete options[key as keyof IChartOptions];
      }
    });
    chart.current?.update(series, options);
  }, [series, height, xLabel, yLabel, title]);

  return <div ref={host} role="img" aria-label={label} />;
}

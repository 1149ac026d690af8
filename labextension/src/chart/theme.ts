/**
 * The chart's colours, read from JupyterLab's theme variables (canvas cannot use CSS
 * variables itself), and a watch that says when the theme changes.
 */

/** Line colours, in order: Tableau 10, legible on Lab's light and dark themes. */
const LINES = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac'
];

export interface IChartTheme {
  /** Axis labels and tick values. */
  text: string;
  /** Axis lines and ticks. */
  axis: string;
  /** Grid lines. */
  grid: string;
  /** Font of the tick values, as canvas wants it (`11px sans-serif`). */
  font: string;
  /** Font of the axis labels. */
  labelFont: string;
  /** Whether the theme is a light one. */
  light: boolean;
}

function variable(style: CSSStyleDeclaration, name: string, fallback: string) {
  return style.getPropertyValue(name).trim() || fallback;
}

/** The current theme's colours and fonts, as they apply at `element`. */
export function chartTheme(element: Element = document.body): IChartTheme {
  const style = window.getComputedStyle(element);
  const family = variable(style, '--jp-ui-font-family', 'sans-serif');
  return {
    text: variable(style, '--jp-ui-font-color1', '#212121'),
    axis: variable(style, '--jp-border-color1', '#bdbdbd'),
    grid: variable(style, '--jp-border-color2', '#e0e0e0'),
    font: `11px ${family}`,
    labelFont: `12px ${family}`,
    light: document.body.dataset.jpThemeLight !== 'false'
  };
}

/** The colour of the `index`th line of a chart. */
export function lineColor(index: number): string {
  return LINES[index % LINES.length];
}

/**
 * Call `changed` after each theme switch (Lab sets `data-jp-theme-*` on the body
 * once the theme's CSS is in place); returns the function that stops watching.
 */
export function watchTheme(changed: () => void): () => void {
  let frame = 0;
  const observer = new MutationObserver(() => {
    window.cancelAnimationFrame(frame);
    frame = window.requestAnimationFrame(changed);
  });
  observer.observe(document.body, {
    attributes: true,
    attributeFilter: ['data-jp-theme-light', 'data-jp-theme-name']
  });
  return () => {
    observer.disconnect();
    window.cancelAnimationFrame(frame);
  };
}

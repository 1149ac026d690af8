import { LabIcon } from '@jupyterlab/ui-components';

const svgstr = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M10 5h3v3h-3z"/>
    <path d="M12 3h3v1.5h-3z"/>
    <path d="M7 8h9a5 5 0 0 1 0 10H7a5 5 0 0 1 0-10zm1 3.5a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm4.5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z"/>
    <path d="M21 10.5l2-1.5v8l-2-1.5z"/>
  </g>
</svg>`;

export const submarineIcon = new LabIcon({
  name: 'submarine-jupyter:submarine',
  svgstr
});

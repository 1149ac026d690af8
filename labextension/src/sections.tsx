/** The panel's sections (experiments, templates, sweeps), as tabs under its header. */
import * as React from 'react';

import { PanelModel, View } from './model';

type Section = 'experiments' | 'templates' | 'sweeps';

const SECTIONS: [Section, string, View][] = [
  ['experiments', 'Experiments', { kind: 'list' }],
  ['templates', 'Templates', { kind: 'templates' }],
  ['sweeps', 'Sweeps', { kind: 'sweeps' }]
];

function sectionOf(view: View): Section {
  switch (view.kind) {
    case 'templates':
    case 'template':
      return 'templates';
    case 'sweeps':
    case 'sweep':
      return 'sweeps';
    default:
      return 'experiments';
  }
}

export function Sections(props: { model: PanelModel }): JSX.Element {
  const { model } = props;
  const current = sectionOf(model.view);
  return (
    <nav
      className="jp-SubmarinePanel-tabs jp-SubmarinePanel-sections"
      role="tablist"
      aria-label="Sections"
    >
      {SECTIONS.map(([section, label, view]) => (
        <button
          key={section}
          role="tab"
          className="jp-SubmarinePanel-tab"
          aria-selected={current === section}
          onClick={() => model.show(view)}
        >
          {label}
        </button>
      ))}
    </nav>
  );
}

import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { ExperimentDetail } from './detail';
import { CreateForm } from './form';
import { ExperimentList } from './list';
import { CompareView } from './metrics/CompareView';
import { PanelModel } from './model';
import { Sections } from './sections';
import { SweepList } from './sweeps/SweepList';
import { SweepView } from './sweeps/SweepView';
import { TemplateForm } from './templates/TemplateForm';
import { TemplateList } from './templates/TemplateList';

function Root(props: { model: PanelModel }): JSX.Element {
  const { model } = props;
  React.useSyncExternalStore(model.subscribe, model.getVersion);
  const { view } = model;
  return (
    <div className="jp-SubmarinePanel-root">
      <header className="jp-SubmarinePanel-header">
        <h2>Submarine</h2>
        <button
          className="jp-mod-styled"
          title="Poll the server now"
          onClick={() => model.refresh()}
        >
          Refresh
        </button>
        <button
          className="jp-mod-styled jp-mod-accept"
          onClick={() => model.show({ kind: 'create' })}
        >
          New
        </button>
      </header>
      <Sections model={model} />
      <div className="jp-SubmarinePanel-body">
        {view.kind === 'list' && <ExperimentList model={model} />}
        {view.kind === 'detail' && (
          <ExperimentDetail key={model.viewSerial} model={model} id={view.id} />
        )}
        {view.kind === 'compare' && (
          <CompareView key={model.viewSerial} model={model} ids={view.ids} />
        )}
        {view.kind === 'create' && (
          <CreateForm
            key={model.viewSerial}
            model={model}
            from={view.from}
            rerun={view.rerun}
          />
        )}
        {view.kind === 'templates' && <TemplateList model={model} />}
        {view.kind === 'template' && (
          <TemplateForm key={model.viewSerial} model={model} name={view.name} />
        )}
        {view.kind === 'sweeps' && <SweepList model={model} />}
        {view.kind === 'sweep' && (
          <SweepView key={model.viewSerial} model={model} name={view.name} />
        )}
      </div>
    </div>
  );
}

/** The left-sidebar widget; polling slows down while it is out of sight. */
export class SubmarinePanel extends ReactWidget {
  constructor(readonly model: PanelModel = new PanelModel()) {
    super();
    this.addClass('jp-SubmarinePanel');
    // A side panel starts collapsed; onAfterShow speeds polling up when it opens.
    this.model.setHidden(true);
  }

  protected render(): JSX.Element {
    return <Root model={this.model} />;
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.model.setHidden(false);
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.model.setHidden(true);
  }

  dispose(): void {
    this.model.dispose();
    super.dispose();
  }
}

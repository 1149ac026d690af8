import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';

import { submarineIcon } from './icon';
import { SubmarinePanel } from './panel';
import { widgetPlugin } from './widget/plugin';

const PANEL_ID = 'submarine-jupyter-panel';
const CATEGORY = 'Submarine';

const COMMANDS = {
  open: 'submarine-jupyter:open',
  create: 'submarine-jupyter:new-experiment',
  refresh: 'submarine-jupyter:refresh'
};

const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: 'submarine-jupyter:panel',
  description:
    'A side panel listing, following and creating Submarine experiments.',
  autoStart: true,
  optional: [ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ) => {
    const panel = new SubmarinePanel();
    panel.id = PANEL_ID;
    panel.title.icon = submarineIcon;
    panel.title.caption = 'Submarine experiments';
    app.shell.add(panel, 'left', { rank: 900 });
    restorer?.add(panel, PANEL_ID);
    panel.model.reveal = () => app.shell.activateById(PANEL_ID);

    app.commands.addCommand(COMMANDS.open, {
      label: 'Show Submarine Experiments',
      icon: submarineIcon,
      execute: () => {
        panel.model.show({ kind: 'list' });
        app.shell.activateById(PANEL_ID);
      }
    });
    app.commands.addCommand(COMMANDS.create, {
      label: 'New Submarine Experiment',
      execute: () => {
        panel.model.show({ kind: 'create' });
        app.shell.activateById(PANEL_ID);
      }
    });
    app.commands.addCommand(COMMANDS.refresh, {
      label: 'Refresh Submarine Experiments',
      execute: () => panel.model.refresh()
    });
    for (const command of Object.values(COMMANDS)) {
      palette?.addItem({ command, category: CATEGORY });
    }
  }
};

export default [panelPlugin, widgetPlugin];

import * as React from 'react';

import { ErrorBox } from '../common';
import { PanelModel } from '../model';
import { usePolled } from '../usePolled';
import { isRequired, listTemplates } from './api';

/** The stored templates; one opens the form that submits it. */
export function TemplateList(props: { model: PanelModel }): JSX.Element {
  const { model } = props;
  const { value: templates, error } = usePolled(model, 'templates', () =>
    listTemplates(model.client)
  );
  return (
    <div className="jp-SubmarinePanel-list">
      <ErrorBox message={error} />
      {templates?.length === 0 && (
        <p className="jp-SubmarinePanel-empty">
          No templates yet. Register one with{' '}
          <code>%submarine template create</code> or{' '}
          <code>POST /api/v1/template</code>.
        </p>
      )}
      <ul className="jp-SubmarinePanel-items" aria-label="Templates">
        {(templates ?? []).map(({ experimentTemplateSpec: t }) => {
          const params = t.parameters ?? [];
          const required = params.filter(isRequired).length;
          const open = () => model.show({ kind: 'template', name: t.name });
          return (
            <li
              key={t.name}
              className="jp-SubmarinePanel-item"
              data-template={t.name}
              tabIndex={0}
              onClick={open}
              onKeyDown={event => event.key === 'Enter' && open()}
            >
              <div className="jp-SubmarinePanel-itemHead">
                <span className="jp-SubmarinePanel-name">{t.name}</span>
              </div>
              {t.description && (
                <div className="jp-SubmarinePanel-itemText">
                  {t.description.trim()}
                </div>
              )}
              <div className="jp-SubmarinePanel-itemMeta">
                {t.author && <span title="author">{t.author}</span>}
                <span>
                  {params.length} parameters
                  {required > 0 && `, ${required} required`}
                </span>
              </div>
            </li>
          );
        })}
      </ul>
    </div>
  );
}

import * as React from 'react';

import { Template, TemplateParam } from '../api';
import { ErrorBox, message } from '../common';
import { Errors } from '../draft';
import { Field, described } from '../fields';
import { PanelModel } from '../model';
import {
  defaultOf,
  getTemplate,
  isRequired,
  isRoleParam,
  submitTemplate
} from './api';
import { placeRefusal } from './refusal';

function ParamField(props: {
  param: TemplateParam;
  value: string;
  error?: string;
  onChange: (value: string) => void;
}): JSX.Element {
  const { param, value, error } = props;
  const required = isRequired(param);
  const fallback = defaultOf(param);
  return (
    <Field
      name={param.name}
      error={error}
      hint={param.description?.trim()}
      label={
        <>
          <code>{param.name}</code>
          {required && (
            <span className="jp-SubmarinePanel-required">required</span>
          )}
        </>
      }
    >
      <input
        className="jp-mod-styled"
        name={param.name}
        {...described(param.name, error)}
        aria-required={required}
        placeholder={fallback ? `default: ${fallback}` : undefined}
        value={value}
        onChange={e => props.onChange(e.target.value)}
      />
    </Field>
  );
}

/**
 * A template's parameters as a form (required ones marked, defaults filled in,
 * descriptions shown) that submits it; the server's refusal goes next to the
 * parameters it names. A blank field is not sent: the server then uses the
 * parameter's default, or says it needs a value.
 */
export function TemplateForm(props: {
  model: PanelModel;
  name: string;
}): JSX.Element {
  const { model, name } = props;
  const [template, setTemplate] = React.useState<Template | null>(null);
  const [loadError, setLoadError] = React.useState<string | null>(null);
  const [values, setValues] = React.useState<Record<string, string>>({});
  const [errors, setErrors] = React.useState<Errors>({});
  const [refused, setRefused] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);

  React.useEffect(() => {
    void getTemplate(model.client, name).then(
      found => {
        setTemplate(found);
        const params = found.experimentTemplateSpec.parameters ?? [];
        setValues(Object.fromEntries(params.map(p => [p.name, defaultOf(p)])));
      },
      error => setLoadError(message(error))
    );
  }, [model, name]);

  const back = (
    <div className="jp-SubmarinePanel-toolbar">
      <button
        type="button"
        className="jp-mod-styled"
        onClick={() => model.show({ kind: 'templates' })}
      >
        ← Templates
      </button>
    </div>
  );
  if (!template) {
    return (
      <div className="jp-SubmarinePanel-form">
        {back}
        {loadError ? (
          <ErrorBox message={loadError} />
        ) : (
          <p className="jp-SubmarinePanel-empty">Loading…</p>
        )}
      </div>
    );
  }
  const spec = template.experimentTemplateSpec;
  const params = spec.parameters ?? [];
  const own = params.filter(p => !isRoleParam(p));
  const perRole = params.filter(isRoleParam);

  const submit = async () => {
    setBusy(true);
    setRefused(null);
    setErrors({});
    const given = Object.fromEntries(
      Object.entries(values).filter(([, value]) => value.trim() !== '')
    );
    try {
      const created = await submitTemplate(model.client, spec.name, given);
      model.outcomes.launched(created.experimentId);
      model.show({ kind: 'detail', id: created.experimentId });
      model.refresh();
    } catch (error) {
      setErrors(
        placeRefusal(
          error,
          params.map(p => p.name)
        )
      );
      setRefused(message(error));
      setBusy(false);
    }
  };
  const field = (param: TemplateParam) => (
    <ParamField
      key={param.name}
      param={param}
      value={values[param.name] ?? ''}
      error={errors[param.name]}
      onChange={value => {
        setValues({ ...values, [param.name]: value });
        const { [param.name]: _gone, ...rest } = errors;
        setErrors(rest);
      }}
    />
  );

  return (
    <form
      className="jp-SubmarinePanel-form"
      aria-label="Submit template"
      data-template={spec.name}
      noValidate
      onSubmit={event => {
        event.preventDefault();
        void submit();
      }}
    >
      {back}
      <h3 className="jp-SubmarinePanel-title">
        <span className="jp-SubmarinePanel-name">{spec.name}</span>
      </h3>
      {spec.description && (
        <p className="jp-SubmarinePanel-formNote">{spec.description.trim()}</p>
      )}
      {spec.author && (
        <p className="jp-SubmarinePanel-formNote">By {spec.author}</p>
      )}
      {own.length === 0 && (
        <p className="jp-SubmarinePanel-empty">
          This template has no parameters of its own.
        </p>
      )}
      {own.map(field)}
      {perRole.length > 0 && (
        <fieldset className="jp-SubmarinePanel-fieldset">
          <legend>Per role (added by Submarine)</legend>
          {perRole.map(field)}
        </fieldset>
      )}
      <details className="jp-SubmarinePanel-templateSpec">
        <summary>Experiment spec</summary>
        <pre className="jp-SubmarinePanel-yaml">
          {JSON.stringify(spec.experimentSpec, null, 2)}
        </pre>
      </details>
      <ErrorBox message={refused} />
      <div className="jp-SubmarinePanel-toolbar">
        <button
          type="submit"
          className="jp-mod-styled jp-mod-accept"
          disabled={busy}
        >
          Submit
        </button>
      </div>
    </form>
  );
}

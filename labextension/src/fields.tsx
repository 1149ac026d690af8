/** A form's labelled field and its error text, shared by the panel's forms. */
import * as React from 'react';

/** The id of the error text under a field, for its control's aria-describedby. */
export function errorId(name: string): string {
  return `jp-SubmarinePanel-${name}Error`;
}

/** What a control says about its field's error (outside its label's name). */
export function described(
  name: string,
  error: string | undefined
): { 'aria-invalid': boolean; 'aria-describedby'?: string } {
  return error
    ? { 'aria-invalid': true, 'aria-describedby': errorId(name) }
    : { 'aria-invalid': false };
}

export function Field(props: {
  label: React.ReactNode;
  name: string;
  error?: string;
  /** Shown under the control (a template parameter's description, say). */
  hint?: string | null;
  children: React.ReactNode;
}): JSX.Element {
  return (
    <div className="jp-SubmarinePanel-field" data-field={props.name}>
      <label className="jp-SubmarinePanel-fieldLabel">
        <span className="jp-SubmarinePanel-label">{props.label}</span>
        {props.children}
      </label>
      {props.hint && (
        <span className="jp-SubmarinePanel-fieldHint">{props.hint}</span>
      )}
      {props.error && (
        <span className="jp-SubmarinePanel-fieldError" id={errorId(props.name)}>
          {props.error}
        </span>
      )}
    </div>
  );
}

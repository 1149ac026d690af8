import * as React from 'react';

import { ExperimentSpec, SubmarineClient } from './api';
import { ErrorBox, message } from './common';

/** The stored spec as the server writes it in YAML (`spec?format=yaml`), read
 * again whenever the spec changes (a resize). */
export function SpecYaml(props: {
  client: SubmarineClient;
  experimentId: string;
  spec: ExperimentSpec;
}): JSX.Element {
  const { client, experimentId } = props;
  const version = JSON.stringify(props.spec);
  const [yaml, setYaml] = React.useState<string | null>(null);
  const [error, setError] = React.useState<string | null>(null);

  React.useEffect(() => {
    const abort = new AbortController();
    client.specYaml(experimentId, abort.signal).then(
      text => {
        setYaml(text);
        setError(null);
      },
      reason => abort.signal.aborted || setError(message(reason))
    );
    return () => abort.abort();
  }, [client, experimentId, version]);

  return (
    <>
      <ErrorBox message={error} />
      <pre
        className="jp-SubmarinePanel-yaml"
        aria-label="Spec as YAML"
        aria-busy={yaml === null}
      >
        {yaml ?? 'Loading…'}
      </pre>
    </>
  );
}

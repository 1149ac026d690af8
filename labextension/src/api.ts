import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { components, operations } from './schema';
import { TERMINAL_STATUSES } from './vocabulary';

/*
 * Every type here comes from schema.d.ts, which openapi-typescript generates from the
 * server's OpenAPI document (scripts/panel_types.py): none is written by hand.
 */
type Schemas = components['schemas'];
export type Experiment = Schemas['Experiment'];
export type ExperimentSpec = Schemas['ExperimentSpec'];
export type ExperimentMeta = Schemas['ExperimentMeta'];
export type TaskSpec = Schemas['TaskSpec'];
export type Replica = Schemas['Replica'];
export type Environment = Schemas['Environment'];
export type LogLine = Schemas['LogLine'];
export type FieldError = Schemas['FieldError'];
export type ErrorEnvelope = Schemas['ErrorEnvelope'];
export type MetricSeries = Schemas['MetricSeries'];
export type Metrics = Schemas['Metrics'];
export type Param = Schemas['Param'];
export type Template = Schemas['Template'];
export type TemplateParam = Schemas['TemplateParam'];
export type Sweep = Schemas['Sweep'];
export type Target = Schemas['Target'];
export type DryRun = Schemas['DryRun'];
export type Trial = Schemas['Trial'];
export type Status = Experiment['status'];

/** A page of the list, newest first: its experiments, the next page's token and its ETag. */
export interface IPage {
  items: Experiment[];
  /** The `continue` token of the next page; null when this one is the last. */
  next: string | null;
  etag: string | null;
}

type OperationId = keyof operations;
type Answer<O extends OperationId> =
  operations[O]['responses'][200]['content']['application/json'];
/** The envelope's `result` of a successful call of operation `O`. */
export type Result<O extends OperationId> = Exclude<
  Answer<O> extends { result?: infer R } ? R : never,
  undefined
>;
/** The query parameters operation `O` takes. */
export type Query<O extends OperationId> = NonNullable<
  operations[O]['parameters']['query']
>;

/** Statuses an experiment never leaves. */
const TERMINAL: readonly Status[] = [...TERMINAL_STATUSES, 'Deleted'];

export function isTerminal(status: Status): boolean {
  return TERMINAL.includes(status);
}

/**
 * A refusal: `message` is the server's own text when it sent an envelope, and
 * `fieldErrors` each refused field of a body with its dotted path.
 */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly fieldErrors: FieldError[] = []
  ) {
    super(message);
  }
}

/** The experiment REST API of the Jupyter server this Lab runs in. */
export class SubmarineClient {
  constructor(
    readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  /** Absolute URL of an API path, e.g. `experiment/logs/ID`. */
  url(path: string, query: Record<string, string | undefined> = {}): string {
    const params = Object.entries(query).filter(
      (entry): entry is [string, string] => entry[1] !== undefined
    );
    const search = params.length
      ? '?' + new URLSearchParams(params).toString()
      : '';
    return URLExt.join(this.settings.baseUrl, 'api/v1', path) + search;
  }

  /**
   * `limit` experiments, newest first, after the page `token` continues; with
   * `target`, only those on that target.
   */
  async page(limit: number, token?: string, target?: string): Promise<IPage> {
    return this.pageOf(await this.fetchPage(limit, token, target));
  }

  /** The first page, or null (a 304) while its ETag is still `etag`. */
  async pageIfChanged(
    limit: number,
    etag: string,
    target?: string
  ): Promise<IPage | null> {
    const response = await this.fetchPage(limit, undefined, target, {
      'If-None-Match': etag
    });
    return response.status === 304 ? null : this.pageOf(response);
  }

  /** Where experiments can run: `local` and the configured Kubernetes targets. */
  targets(signal?: AbortSignal): Promise<Result<'listTargets'>> {
    return this.call('target', { signal });
  }

  async create(spec: ExperimentSpec): Promise<Experiment> {
    const created: Result<'createExperiment'> = await this.call('experiment', {
      method: 'POST',
      body: JSON.stringify(spec)
    });
    if ('dryRun' in created) {
      throw new ApiError(
        'The server planned the experiment, not created it',
        0
      );
    }
    return created;
  }

  /**
   * Check a spec exactly as `create` would (`?dryRun=true`); nothing is started.
   * A refusal throws an ApiError with the server's `fieldErrors`.
   */
  async check(spec: ExperimentSpec, signal?: AbortSignal): Promise<void> {
    const query: Query<'createExperiment'> = { dryRun: 'true' };
    await this.call(
      'experiment',
      { method: 'POST', body: JSON.stringify(spec), signal },
      query
    );
  }

  /** The stored spec as the server writes it in YAML. */
  specYaml(
    id: string,
    signal?: AbortSignal
  ): Promise<Extract<Result<'getExperimentSpec'>, string>> {
    const query: Query<'getExperimentSpec'> = { format: 'yaml' };
    return this.call(
      `experiment/${encodeURIComponent(id)}/spec`,
      { signal },
      query
    );
  }

  get(id: string): Promise<Result<'getExperiment'>> {
    return this.call(`experiment/${encodeURIComponent(id)}`);
  }

  patch(id: string, spec: ExperimentSpec): Promise<Result<'patchExperiment'>> {
    return this.call(`experiment/${encodeURIComponent(id)}`, {
      method: 'PATCH',
      body: JSON.stringify(spec)
    });
  }

  /** End every replica and keep the record, its logs and metrics (status Stopped). */
  stop(id: string): Promise<Result<'stopExperiment'>> {
    return this.call(`experiment/${encodeURIComponent(id)}/stop`, {
      method: 'POST'
    });
  }

  /**
   * A new experiment from this one's spec (its pending spec, if any) with
   * `changes`, a JSON merge patch of it (RFC 7396: null removes a key).
   */
  async rerun(id: string, changes?: object): Promise<Experiment> {
    const created: Result<'rerunExperiment'> = await this.call(
      `experiment/${encodeURIComponent(id)}/rerun`,
      {
        method: 'POST',
        body: changes === undefined ? undefined : JSON.stringify(changes)
      }
    );
    if ('dryRun' in created) {
      throw new ApiError('The server planned the re-run, not started it', 0);
    }
    return created;
  }

  /**
   * What `rerun(id, changes)` would run (`?dryRun=true`), on the target the
   * changes name (`{"meta": {"target": ...}}`), else on the same one; nothing is
   * started. A refusal throws an ApiError with the server's message.
   */
  async planRerun(
    id: string,
    changes: object,
    signal?: AbortSignal
  ): Promise<DryRun> {
    const query: Query<'rerunExperiment'> = { dryRun: 'true' };
    const planned: Result<'rerunExperiment'> = await this.call(
      `experiment/${encodeURIComponent(id)}/rerun`,
      { method: 'POST', body: JSON.stringify(changes), signal },
      query
    );
    if (!('dryRun' in planned)) {
      throw new ApiError(
        'The server started the re-run instead of planning it',
        0
      );
    }
    return planned;
  }

  remove(id: string): Promise<Result<'deleteExperiment'>> {
    return this.call(`experiment/${encodeURIComponent(id)}`, {
      method: 'DELETE'
    });
  }

  /**
   * Stream `logs/ID?follow=true` (newline-delimited JSON), starting with the
   * last `tailLines` lines, until the experiment ends or `signal` aborts; each
   * line goes to `onLine` as it arrives.
   */
  async followLogs(
    id: string,
    podName: string,
    onLine: (line: LogLine) => void,
    signal: AbortSignal,
    tailLines: number
  ): Promise<void> {
    const query: Query<'getLogs'> = {
      follow: 'true',
      podName,
      tailLines: String(tailLines)
    };
    const response = await this.fetch(
      this.url(`experiment/logs/${encodeURIComponent(id)}`, query),
      { signal }
    );
    if (!response.ok || !response.body) {
      await this.unwrap(response);
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let pending = '';
    for (;;) {
      const { done, value } = await reader.read();
      pending += decoder.decode(value, { stream: !done });
      const lines = pending.split('\n');
      pending = done ? '' : (lines.pop() ?? '');
      for (const text of lines) {
        if (text.trim()) {
          onLine(JSON.parse(text) as LogLine);
        }
      }
      if (done) {
        return;
      }
    }
  }

  /**
   * An experiment's metric series; with `since` (an earlier answer's `cursor`)
   * only the points collected after it.
   */
  metrics(
    id: string,
    query: Query<'getMetrics'> = {},
    signal?: AbortSignal
  ): Promise<Result<'getMetrics'>> {
    return this.call(
      `experiment/${encodeURIComponent(id)}/metrics`,
      { signal },
      query
    );
  }

  params(id: string): Promise<Result<'getParams'>> {
    return this.call(`experiment/${encodeURIComponent(id)}/params`);
  }

  environments(): Promise<Result<'listEnvironments'>> {
    return this.call('environment');
  }

  /**
   * Any route of the API, e.g. `template` (see templates/api.ts): the envelope's
   * `result`, or an ApiError with the server's message and field errors.
   */
  async call<T>(
    path: string,
    init: RequestInit = {},
    query: Record<string, string | undefined> = {}
  ): Promise<T> {
    return this.unwrap<T>(await this.fetch(this.url(path, query), init));
  }

  private fetchPage(
    limit: number,
    token?: string,
    target?: string,
    headers: Record<string, string> = {}
  ): Promise<Response> {
    const query = {
      limit: String(limit),
      sort: '-acceptedTime',
      continue: token,
      target: target || undefined
    };
    return this.fetch(this.url('experiment', query), { headers });
  }

  private async pageOf(response: Response): Promise<IPage> {
    const answer = await this.envelope<Answer<'listExperiments'>>(response);
    return {
      items: answer.result ?? [],
      next: answer.attributes?.continue ?? null,
      etag: response.headers.get('ETag')
    };
  }

  private async fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await ServerConnection.makeRequest(url, init, this.settings);
    } catch (error) {
      if (error instanceof ServerConnection.NetworkError) {
        throw new ApiError(
          `Cannot reach the Jupyter server: ${error.message}`,
          0
        );
      }
      throw error;
    }
  }

  private async unwrap<T>(response: Response): Promise<T> {
    return (await this.envelope<{ result: T }>(response)).result;
  }

  /** The answer's whole envelope, or an ApiError with the server's message. */
  private async envelope<E>(response: Response): Promise<E> {
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ApiError(
        `${response.status} ${response.statusText}: the server did not answer with JSON`,
        response.status
      );
    }
    if (!response.ok) {
      const refusal = body as Partial<ErrorEnvelope>;
      throw new ApiError(
        refusal.message || `${response.status} ${response.statusText}`,
        response.status,
        refusal.attributes?.fieldErrors ?? []
      );
    }
    return body as E;
  }
}

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** Experiment statuses as the server reports them (`Deleted` only answers DELETE). */
export const STATUSES = [
  'Accepted',
  'Created',
  'Running',
  'Succeeded',
  'Failed'
] as const;
export type Status = (typeof STATUSES)[number] | 'Deleted';

export function isTerminal(status: string): boolean {
  return status === 'Succeeded' || status === 'Failed' || status === 'Deleted';
}

export interface TaskSpec {
  replicas?: number;
  resources?: string | null;
  name?: string | null;
  image?: string | null;
  cmd?: string | null;
  envVars?: Record<string, string>;
}

export interface ExperimentSpec {
  meta: {
    name: string;
    namespace?: string;
    framework: string;
    cmd: string;
    envVars?: Record<string, string>;
    tags?: string[];
    experimentId?: string | null;
  };
  environment?: { image?: string | null; name?: string | null } | null;
  spec: Record<string, TaskSpec>;
}

export interface Replica {
  name: string;
  role: string;
  index: number;
  state: string;
  restarts: number;
  exitCode: number | null;
  message: string | null;
}

export interface Experiment {
  experimentId: string;
  name: string;
  uid: string;
  status: Status;
  acceptedTime: string | null;
  createdTime: string | null;
  runningTime: string | null;
  finishedTime: string | null;
  statusMessage: string | null;
  replicas: Replica[];
  spec: ExperimentSpec;
}

export interface Environment {
  environmentId: string;
  environmentSpec: { name: string; dockerImage?: string | null };
}

export interface LogLine {
  podName: string;
  line: string;
}

/** A refusal: `message` is the server's own text when it sent an envelope. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
  }
}

interface Envelope<T> {
  code: number;
  message: string | null;
  result: T;
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

  list(): Promise<Experiment[]> {
    return this.call('experiment');
  }

  create(spec: ExperimentSpec): Promise<Experiment> {
    return this.call('experiment', {
      method: 'POST',
      body: JSON.stringify(spec)
    });
  }

  /** Validate a spec as `create` would (`?dryRun=true`); nothing is started. */
  async check(spec: ExperimentSpec): Promise<void> {
    await this.call(
      'experiment',
      { method: 'POST', body: JSON.stringify(spec) },
      { dryRun: 'true' }
    );
  }

  patch(id: string, spec: ExperimentSpec): Promise<ExperimentSpec> {
    return this.call(`experiment/${encodeURIComponent(id)}`, {
      method: 'PATCH',
      body: JSON.stringify(spec)
    });
  }

  remove(id: string): Promise<Experiment> {
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
    const response = await this.fetch(
      this.url(`experiment/logs/${encodeURIComponent(id)}`, {
        follow: 'true',
        podName,
        tailLines: String(tailLines)
      }),
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

  environments(): Promise<Environment[]> {
    return this.call('environment');
  }

  private async call<T>(
    path: string,
    init: RequestInit = {},
    query: Record<string, string | undefined> = {}
  ): Promise<T> {
    return this.unwrap<T>(await this.fetch(this.url(path, query), init));
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
    const text = await response.text();
    let body: Envelope<T>;
    try {
      body = JSON.parse(text) as Envelope<T>;
    } catch {
      throw new ApiError(
        `${response.status} ${response.statusText}: the server did not answer with JSON`,
        response.status
      );
    }
    if (!response.ok) {
      throw new ApiError(
        body.message || `${response.status} ${response.statusText}`,
        response.status
      );
    }
    return body.result;
  }
}

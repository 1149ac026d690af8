import { Clipboard, Notification } from '@jupyterlab/apputils';
import * as React from 'react';

import { Experiment } from './api';
import type { PanelModel } from './model';

/** Milliseconds as `45s`, `12m`, `3h 5m`, `2d 4h`. */
export function span(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) {
    return `${s}s`;
  }
  const m = Math.floor(s / 60);
  if (m < 60) {
    return `${m}m ${s % 60}s`;
  }
  const h = Math.floor(m / 60);
  if (h < 24) {
    return `${h}h ${m % 60}m`;
  }
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function age(experiment: Experiment, now: number): string {
  return experiment.acceptedTime
    ? `${span(now - Date.parse(experiment.acceptedTime))} ago`
    : '';
}

/** Time from start (running, else created) to finish, or to now while it runs. */
export function duration(experiment: Experiment, now: number): string {
  const start = experiment.runningTime ?? experiment.createdTime;
  if (!start) {
    return '';
  }
  const end = experiment.finishedTime
    ? Date.parse(experiment.finishedTime)
    : now;
  return span(end - Date.parse(start));
}

/**
 * `make()`'s value, made again only when `key` changes: for values derived from
 * mutable sources (a feed that bumps its version) that React's deps cannot see.
 */
export function useKeyed<T>(make: () => T, key: string): T {
  const held = React.useRef<{ key: string; value: T } | null>(null);
  if (held.current === null || held.current.key !== key) {
    held.current = { key, value: make() };
  }
  return held.current.value;
}

/** The current time, re-rendering every `ms`. */
export function useNow(ms: number): number {
  const [now, setNow] = React.useState(Date.now());
  React.useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(timer);
  }, [ms]);
  return now;
}

export function StatusBadge(props: { status: string }): JSX.Element {
  return (
    <span
      className={`jp-SubmarinePanel-status jp-SubmarinePanel-status-${props.status.toLowerCase()}`}
    >
      {props.status}
    </span>
  );
}

/** Where an experiment runs: its target's name, its backend in the tooltip. */
export function TargetBadge(props: {
  model: PanelModel;
  name: string;
}): JSX.Element {
  const { model, name } = props;
  const target = model.targets.find(t => t.name === name);
  return (
    <span
      className="jp-SubmarinePanel-target"
      data-target={name}
      title={
        target
          ? `Runs on ${name} (${[target.backend, target.api].filter(Boolean).join(', ')})`
          : `Runs on ${name}`
      }
    >
      {name}
    </span>
  );
}

export function ErrorBox(props: {
  message: string | null;
}): JSX.Element | null {
  return props.message ? (
    <div className="jp-SubmarinePanel-error" role="alert">
      {props.message}
    </div>
  ) : null;
}

/** The text of an error: the server's own message for a refused request. */
export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function copy(text: string, what: string): void {
  Clipboard.copyToSystem(text);
  Notification.success(`Copied ${what}`, { autoClose: 3000 });
}

/** The button back to the experiment list. */
export function BackToList(props: { model: PanelModel }): JSX.Element {
  return (
    <button
      type="button"
      className="jp-mod-styled"
      onClick={() => props.model.show({ kind: 'list' })}
    >
      ← Experiments
    </button>
  );
}

import * as React from 'react';

import { SubmarineClient } from './api';
import { message } from './common';

/** Most log lines kept on screen (and asked for when following starts). */
export const LOG_LINES = 2000;

/** Within this many pixels of the bottom, the log follows new lines. */
const STICK_PX = 8;

interface ILines {
  /** The number of the first line held (lines before it were dropped). */
  first: number;
  lines: string[];
}

/**
 * The log of one replica, streamed live (`follow=true`) until the experiment ends.
 * At the bottom it follows the newest line; scrolled up, it stays where the user
 * is (each line is its own element, so the browser's scroll anchoring keeps the
 * view in place when old lines are dropped from the top).
 */
export function LogView(props: {
  client: SubmarineClient;
  experimentId: string;
  podName: string;
}): JSX.Element {
  const { client, experimentId, podName } = props;
  const [held, setHeld] = React.useState<ILines>({ first: 0, lines: [] });
  const [ended, setEnded] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);
  const [attempt, setAttempt] = React.useState(0);
  const box = React.useRef<HTMLDivElement>(null);
  const stick = React.useRef(true);

  React.useEffect(() => {
    const abort = new AbortController();
    let buffer: string[] = [];
    let flush = 0;
    setHeld({ first: 0, lines: [] });
    setEnded(false);
    setError(null);
    stick.current = true;
    // Batch lines per animation frame so a chatty replica does not re-render per line.
    const push = (line: string) => {
      buffer.push(line);
      flush ||= window.requestAnimationFrame(() => {
        const added = buffer;
        buffer = [];
        flush = 0;
        setHeld(old => {
          const lines = old.lines.concat(added);
          const drop = Math.max(0, lines.length - LOG_LINES);
          return { first: old.first + drop, lines: lines.slice(drop) };
        });
      });
    };
    client
      .followLogs(
        experimentId,
        podName,
        item => push(item.line),
        abort.signal,
        LOG_LINES
      )
      .then(
        () => setEnded(true),
        reason => abort.signal.aborted || setError(message(reason))
      );
    return () => {
      abort.abort();
      window.cancelAnimationFrame(flush);
    };
  }, [client, experimentId, podName, attempt]);

  React.useLayoutEffect(() => {
    if (box.current && stick.current) {
      box.current.scrollTop = box.current.scrollHeight;
    }
  }, [held]);

  return (
    <div className="jp-SubmarinePanel-logs">
      <div className="jp-SubmarinePanel-logsHead">
        <span
          className="jp-SubmarinePanel-logState"
          data-state={error ? 'error' : ended ? 'ended' : 'following'}
        >
          {error ?? (ended ? 'end of log' : 'following…')}
        </span>
        {(ended || error) && (
          <button
            className="jp-mod-styled jp-mod-reject"
            onClick={() => setAttempt(a => a + 1)}
          >
            Reload
          </button>
        )}
      </div>
      <div
        ref={box}
        className="jp-SubmarinePanel-logText"
        role="log"
        aria-label={`Log of ${podName}`}
        data-first-line={held.first}
        onScroll={event => {
          const el = event.currentTarget;
          stick.current =
            el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX;
        }}
      >
        {held.lines.map((line, i) => (
          <div key={held.first + i} className="jp-SubmarinePanel-logLine">
            {line}
          </div>
        ))}
      </div>
    </div>
  );
}

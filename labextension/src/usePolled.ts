import * as React from 'react';

import { message } from './common';
import { PanelModel } from './model';
import { BackoffPoller, IBackoff } from './poller';

/** A view's own reads: soon after a change, at least every 3 s while `live`. */
export const VIEW_BACKOFF: IBackoff = {
  min: 1000,
  max: 15000,
  factor: 1.5,
  hidden: 60000,
  urgent: 3000
};

/**
 * What `load` answers, read again and again (backing off while it does not
 * change, slower while the panel is hidden, every few seconds while `live` says
 * it is), afresh when `key` changes and at once on the panel's Refresh.
 */
export function usePolled<T>(
  model: PanelModel,
  key: string,
  load: () => Promise<T>,
  live: (value: T) => boolean = () => false
): { value: T | null; error: string | null; reload: () => void } {
  const [state, setState] = React.useState<{
    value: T | null;
    error: string | null;
  }>({ value: null, error: null });
  const poller = React.useRef<BackoffPoller | null>(null);
  const calls = React.useRef({ load, live });
  calls.current = { load, live };
  /** What the poller was last told: the panel's visibility and Refresh count. */
  const seen = React.useRef({
    hidden: model.hidden,
    refreshes: model.refreshes
  });

  React.useEffect(() => {
    let last = '';
    const polling = new BackoffPoller(async () => {
      try {
        const value = await calls.current.load();
        polling.urgent = calls.current.live(value);
        const text = JSON.stringify(value);
        if (text === last) {
          return false;
        }
        last = text;
        setState({ value, error: null });
        return true;
      } catch (error) {
        last = '';
        setState(s => ({ value: s.value, error: message(error) }));
        return false;
      }
    }, VIEW_BACKOFF);
    if (seen.current.hidden) {
      polling.ownerHidden = true;
    }
    poller.current = polling;
    polling.refresh();
    return () => polling.dispose();
  }, [key]);

  React.useEffect(() => {
    const polling = poller.current;
    const before = seen.current;
    seen.current = { hidden: model.hidden, refreshes: model.refreshes };
    if (!polling) {
      return;
    }
    if (before.hidden !== model.hidden) {
      polling.ownerHidden = model.hidden; // shown again: reads at once
    }
    if (before.refreshes !== model.refreshes) {
      polling.refresh();
    }
  }, [model.hidden, model.refreshes]);

  const reload = React.useCallback(() => poller.current?.refresh(), []);
  return { ...state, reload };
}

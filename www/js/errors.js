// The page's error box, and the way the panels run their work: at most one call in flight, only
// the latest request kept, its errors shown under the panel's name until it next succeeds.

import { announce } from './announce.js';

const $ = (id) => document.getElementById(id);

/**
 * The error box shows the latest error of each panel (`source`) until that panel next succeeds:
 * a hint such as "draw a digit first" goes away once the action works. Each error is stored as
 * { text, serial }: `serial` counts the errors shown, so that a task begun before an error was
 * shown cannot clear it by finishing later.
 */
const errors = new Map();
let serial = 0;

function renderErrors() {
  const box = $('error');
  const latest = [...errors.values()].pop();
  box.textContent = latest?.text ?? '';
  box.hidden = latest === undefined;
}

export function showError(error, source = 'page') {
  const badge = $('backend');
  if (badge.classList.contains('badge-pending')) {
    badge.textContent = 'failed to start';
    badge.classList.replace('badge-pending', 'badge-cpu');
  }
  errors.delete(source); // re-inserted last: the newest error is the one shown
  const text = `Error: ${error?.message ?? error}`;
  errors.set(source, { text, serial: ++serial });
  renderErrors();
  announce(text, 250, { error: true });
  if (typeof error === 'string') console.warn(error);
  else console.error(error);
}

/** Clears the error of `source`; with `since` (a serial), only one shown before that point. */
export function clearError(source, since = Infinity) {
  const shown = errors.get(source);
  if (shown && shown.serial <= since && errors.delete(source)) renderErrors();
}

/**
 * Runs `task` so that at most one call is in flight and only the latest request is kept; its
 * errors go to the error box under `source`, and a success clears them.
 */
export function latestOnly(task, source) {
  let running = false;
  let pending = null;
  const run = async (...args) => {
    if (running) { pending = args; return; }
    running = true;
    const startedAt = serial;
    try {
      await task(...args);
      // A hint shown while this ran (for a newer request) stays.
      clearError(source, startedAt);
    } catch (e) {
      showError(e, source);
    }
    running = false;
    if (pending) { const next = pending; pending = null; run(...next); }
  };
  return run;
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

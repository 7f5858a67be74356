// What a screen reader hears: one polite live region (#announcer, visually hidden) for the
// outcomes a user waits for (the prediction of a finished drawing, the latent point moved by
// keys, training's epochs, errors). Panels call announce(); repeats of one message are spoken
// again, and a burst of messages within `quietMs` is spoken once, as the last, except that an
// error still waiting is never dropped: a routine message after it is spoken after it.

const $ = (id) => document.getElementById(id);
let timer = null;
let pending = null; // { text, error } waiting to be spoken

/** `text` ended as a sentence, so that two messages read as two. */
const sentence = (text) => (/[.!?]$/.test(text) ? text : `${text}.`);

/** Speaks `text` politely after `quietMs` without a newer message; `error` marks an error. */
export function announce(text, quietMs = 250, { error = false } = {}) {
  clearTimeout(timer);
  pending = pending?.error && !error ? { text: `${sentence(pending.text)} ${text}`, error: true } : { text, error };
  timer = setTimeout(() => {
    const { text: words } = pending;
    pending = null;
    const region = $('announcer');
    if (!region) return;
    // Emptied first so that the same words twice are a change the screen reader notices.
    region.textContent = '';
    setTimeout(() => { region.textContent = words; }, 30);
  }, quietMs);
}

/** Drops the message waiting to be spoken (the user went on: another stroke, say), not an error. */
export function hush() {
  if (pending?.error) return;
  clearTimeout(timer);
  pending = null;
}

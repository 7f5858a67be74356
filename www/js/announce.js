// What a screen reader hears: one polite live region (#announcer, visually hidden) for the
// outcomes a user waits for (the prediction of a finished drawing, the latent point moved by
// keys, training's epochs, errors). Panels call announce(); repeats of one message are spoken
// again, and a burst of messages within `quietMs` is spoken once, as the last.

const $ = (id) => document.getElementById(id);
let timer = null;

/** Speaks `text` politely after `quietMs` without a newer message (the last one wins). */
export function announce(text, quietMs = 250) {
  clearTimeout(timer);
  timer = setTimeout(() => {
    const region = $('announcer');
    if (!region) return;
    // Emptied first so that the same words twice are a change the screen reader notices.
    region.textContent = '';
    setTimeout(() => { region.textContent = text; }, 30);
  }, quietMs);
}

/** Drops the message waiting to be spoken (the user went on: another stroke, say). */
export function hush() {
  clearTimeout(timer);
}

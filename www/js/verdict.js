// The drawing's answer in one of three states: a digit; "not sure: looks most like a 4 (63%)";
// "that doesn't look like a digit" only when the check is sure. The thresholds are the check's
// own (weights/digit_check.json, returned by checkDigit()): none is written here.

/** The state of a drawing with class probabilities `probs` and the check's `verdict`. */
export function verdictState(probs, verdict) {
  const best = probs.indexOf(Math.max(...probs));
  const probability = probs[best];
  // A bundle older than the three states has no `refused`: its rejection is the refusal.
  const refused = verdict.refused ?? !verdict.isDigit;
  const unsureClass = verdict.unsureBelow != null && probability < verdict.unsureBelow;
  const state = refused ? 'not-digit' : !verdict.isDigit || unsureClass ? 'unsure' : 'digit';
  return { state, best, probability };
}

const TEXT = {
  'not-digit': () => "that doesn't look like a digit",
  unsure: (best, percent) => `not sure: looks most like a ${best} (${percent}%)`,
  digit: (best, percent) => `${best} (${percent}%)`,
};

/** Shows the answer in `element`: its text, and data-state (digit, unsure, not-digit),
 * data-not-digit (the sure refusal) and data-digit (the best guess) for tests and styles. */
export function showVerdict(element, probs, verdict) {
  const { state, best, probability } = verdictState(probs, verdict);
  element.textContent = TEXT[state](best, Math.round(probability * 100));
  element.dataset.state = state;
  element.dataset.notDigit = String(state === 'not-digit');
  element.dataset.digit = String(best);
  return state;
}

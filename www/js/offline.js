// Offline use: registers the service worker (sw.js) once the page has settled, so that its caching
// never competes with the first load, and says when a new version of the page is ready: the
// new version takes over only when the user asks (a page never runs half old, half new).

const NOTICE = 'update';

/** Shows "a new version is ready" with a Reload button that lets `waiting` take over. */
function offerUpdate(waiting) {
  const notice = document.getElementById(NOTICE);
  if (!notice || notice.dataset.offered === 'true') return;
  const text = document.createElement('span');
  text.textContent = 'A new version of Digit Lab is ready. ';
  const reload = document.createElement('button');
  reload.type = 'button';
  reload.id = 'update-reload';
  reload.textContent = 'Reload';
  reload.addEventListener('click', () => {
    reload.disabled = true;
    // Reload once the new version controls the page (its caches then hold every file it needs).
    navigator.serviceWorker.addEventListener('controllerchange', () => location.reload(), { once: true });
    waiting.postMessage('take-over');
  });
  notice.classList.add('panel');
  notice.replaceChildren(text, reload);
  notice.dataset.offered = 'true';
}

/** Offers the update once `worker` (a new version being installed) is ready to take over. */
function watchInstalling(worker) {
  worker?.addEventListener('statechange', () => {
    // With no controller, this is the first version of the page in this browser: nothing to update.
    if (worker.state === 'installed' && navigator.serviceWorker.controller) offerUpdate(worker);
  });
}

async function register() {
  try {
    const registration = await navigator.serviceWorker.register('sw.js');
    if (registration.waiting && navigator.serviceWorker.controller) offerUpdate(registration.waiting);
    watchInstalling(registration.installing);
    registration.addEventListener('updatefound', () => watchInstalling(registration.installing));
    // A page left open for days looks for a new version when the user comes back to it.
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') registration.update().catch(() => {});
    });
    document.body.dataset.serviceWorker = 'registered';
  } catch (error) {
    // Offline use is an extra: the page works without it (a private window, a file:// copy).
    console.warn(`offline use unavailable: ${error.message}`);
    document.body.dataset.serviceWorker = 'unavailable';
  }
}

/**
 * Registers the service worker once the page has settled (its first answer shown, its backend
 * chosen) and the browser is idle, so that neither the registration nor its precaching competes
 * with the first load on a slow phone or network.
 */
export function registerWhenIdle() {
  if (!('serviceWorker' in navigator)) return;
  const idle = window.requestIdleCallback ?? ((run) => setTimeout(run, 200));
  idle(() => register(), { timeout: 2000 });
}

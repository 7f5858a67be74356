// The page's service worker: after one visit the page works with the network off.
// - At install it caches the page's core (HTML, CSS, JS, the CPU bundle with its weights, the
//   latent maps, the icons) in a cache named by the build's version, each file checked against
//   the build's SHA-256, so that a version never holds a file of another.
// - The WebGPU/training bundle and the training digits are cached when the page first fetches
//   them (a mode that needs them was opened): they are 20 MB that most visits never use.
// - Every file but the HTML and the web app manifest has a content-hashed name: served from the
//   cache first. The HTML is fetched from the network first (so a new version is seen), from the
//   cache when offline. Files of a new version are never served to a page of an old one: they
//   have other names. A network that hangs gets NETWORK_WAIT_MS before the cached page opens.
// - A new version waits until the page asks it to take over (the page shows "a new version is
//   ready"); then older versions' caches are deleted. Models kept in IndexedDB are not touched.

// Filled in by scripts/package-web.mjs: { version, core: [[path, sha256]], lazy: [path] }. Left
// null (a service worker that does nothing) where www/ is served without packaging.
const BUILD = null;

const PREFIX = 'digit-lab-';
const CACHE = BUILD && `${PREFIX}${BUILD.version}`;
const at = (path) => new URL(path, self.registration.scope).href;
const CORE = new Map((BUILD?.core ?? []).map(([path, sha256]) => [at(path), sha256]));
const LAZY = new Set((BUILD?.lazy ?? []).map(at));
const HASHED = /\.[0-9a-f]{10}\.[A-Za-z0-9]+$/;
const NETWORK_WAIT_MS = 4000;
// Cached bodies are stored decoded: the Accept-Encoding they were fetched with (Vary) does not matter.
const MATCH = { ignoreVary: true };

self.addEventListener('install', (event) => {
  if (BUILD) event.waitUntil(precache());
});

self.addEventListener('activate', (event) => {
  event.waitUntil(dropOtherVersions().then(() => self.clients.claim()));
});

self.addEventListener('message', (event) => {
  if (event.data === 'take-over') self.skipWaiting();
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (!BUILD || request.method !== 'GET') return;
  const url = new URL(request.url);
  url.search = '';
  url.hash = '';
  if (request.mode === 'navigate') {
    if (url.href === at('./') || url.href === at('index.html')) event.respondWith(networkFirst(request, at('index.html')));
  } else if (CORE.has(url.href) && !HASHED.test(url.pathname)) {
    event.respondWith(networkFirst(request, url.href));
  } else if (CORE.has(url.href) || LAZY.has(url.href)) {
    event.respondWith(cacheFirst(request, url.href));
  }
});

const sha256 = async (response) => {
  const digest = await crypto.subtle.digest('SHA-256', await response.clone().arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
};

/** An earlier version's copy of a content-hashed file (the same bytes, by its name), if any. */
async function cachedElsewhere(url) {
  if (!HASHED.test(new URL(url).pathname)) return undefined;
  for (const name of await caches.keys()) {
    if (name === CACHE || !name.startsWith(PREFIX)) continue;
    const response = await (await caches.open(name)).match(url, MATCH);
    if (response) return response;
  }
  return undefined;
}

/** The core files, checked against the build's hashes; a file that differs fails the install (tried again later). */
async function precache() {
  const cache = await caches.open(CACHE);
  await Promise.all([...CORE].map(async ([url, expected]) => {
    const response = (await cachedElsewhere(url)) ?? await fetch(url, { cache: 'no-cache' });
    if (!response.ok) throw new Error(`${url}: ${response.status} while caching the page for offline use`);
    const actual = await sha256(response);
    if (actual !== expected) throw new Error(`${url}: its content is not this version's (a deployment in progress?)`);
    await cache.put(url, response);
  }));
  // The lazily fetched files this browser already has (an earlier version's cache, or its HTTP
  // cache from this visit) come along, so that an update keeps the page working offline.
  await Promise.all([...LAZY].map(async (url) => {
    const response = (await cachedElsewhere(url))
      ?? await fetch(url, { cache: 'only-if-cached', mode: 'same-origin' }).catch(() => undefined);
    if (response?.ok) await cache.put(url, response);
  }));
}

async function dropOtherVersions() {
  const names = await caches.keys();
  await Promise.all(names.filter((n) => n.startsWith(PREFIX) && n !== CACHE).map((n) => caches.delete(n)));
}

async function cacheFirst(request, url) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(url, MATCH);
  if (cached) return cached;
  const response = await fetch(request);
  // Only whole, direct answers: a partial or redirected one would stand for the file for a year.
  if (response.status === 200 && !response.redirected) await cache.put(url, response.clone());
  return response;
}

/**
 * The network's answer, or the cached copy when the network fails or has not answered within
 * NETWORK_WAIT_MS (a weak signal: the page opens from the cache instead of hanging).
 */
async function networkFirst(request, url) {
  const cached = caches.open(CACHE).then((cache) => cache.match(url, MATCH));
  const network = fetch(request);
  network.catch(() => {}); // answered by the cache below; nothing left unhandled
  const patience = new Promise((resolve) => { setTimeout(resolve, NETWORK_WAIT_MS); });
  try {
    return await Promise.race([network, patience.then(async () => (await cached) ?? network)]);
  } catch (error) {
    const copy = await cached;
    if (copy) return copy;
    throw error;
  }
}

// The training worker: a dedicated module worker that holds the training bundle (www/pkg-full),
// the live training session and the handwriting tuner, so that training never runs on the page's
// main thread. The page talks to it by postMessage (see worker-client.js):
//   page → worker  {id, op, ...args}      a request; answered by {id, ok: true, value} or
//                                         {id, ok: false, error}
//   worker → page  {event, gen, ...}      what the training loop did (progress, evaluations,
//                                         loop start/end, done, error), tagged with the run's
//                                         generation so the page drops news of a reset run.
// The worker owns the training loop: pause, resume and reset only change what it wants, so no
// rhythm of them can start a second loop or overlap two calls on one wasm object (calls on each
// object go through one queue, and the objects refuse overlapping calls anyway).

import init, { LiveTraining, HandwritingTuner } from '../pkg-full/digit_lab_full.js';
import { describeAdapter } from './adapter.js';

/** Aim for chunks of about this many milliseconds, so that pause and reset answer quickly. */
const CHUNK_MS = 100;
/** Evaluate (validation loss, map, reconstructions) at most this often while training. */
const EVAL_EVERY_MS = 1500;

let ready = null;
/** The bundle and the subset's two files, loaded once. */
function load() {
  ready ??= (async () => {
    const t0 = performance.now();
    const [, images, labels] = await Promise.all([
      init(),
      fetchBytes('../data/mnist-subset-images.idx.gz'),
      fetchBytes('../data/mnist-subset-labels.idx.gz'),
    ]);
    return { images, labels, loadMs: performance.now() - t0 };
  })();
  return ready;
}

async function fetchBytes(path) {
  const url = new URL(path, import.meta.url);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url.pathname}: ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** Runs tasks one after another (calls on one wasm object must not overlap). */
function serial() {
  let tail = Promise.resolve();
  return (task) => {
    const result = tail.then(task);
    tail = result.catch(() => {});
    return result;
  };
}

const post = (message, transfer = []) => self.postMessage(message, transfer);

let route = null;
/**
 * Where training runs, from the page's `?backend=` ("auto", "cpu" or "webgpu"): the argument the
 * wasm API takes ("auto": WebGPU with the CPU fallback, or "cpu") and why, when not WebGPU. In
 * "auto", a software WebGPU adapter is passed over: it trains 15–20× slower than the CPU backend
 * (README: 194 vs 3,253 samples/s) and would hold up the page's own WebGPU work meanwhile.
 */
function backendFor(prefer) {
  route ??= (async () => {
    if (prefer === 'cpu') return { backend: 'cpu', why: null };
    if (prefer === 'webgpu') return { backend: 'auto', why: null };
    const adapter = await describeAdapter();
    if (adapter?.software) {
      return { backend: 'cpu', why: `the WebGPU adapter (${adapter.name}) is a software one, slower than the CPU backend` };
    }
    return { backend: 'auto', why: null };
  })();
  return route;
}

// --- the training session ---------------------------------------------------------------------

const run = {
  /** The page's generation of the run wanted now: bumped by every reset. */
  gen: 0,
  session: null,
  /** The generation `session` belongs to. */
  sessionGen: -1,
  queue: serial(),
  /** Whether the page wants training to run. */
  running: false,
  /** The loop's promise while one runs: there is never a second. */
  loopDone: null,
  loops: 0,
  loopsMax: 0,
  chunk: 2,
  lastEval: 0,
  lastEpoch: 0,
  throughput: { samples: 0, ms: 0 },
};

/** Validation loss, latent map and reconstructions of the session, posted to the page. */
async function evaluate(s, gen) {
  const [valid, map, recon, progress] = await run.queue(async () => [
    await s.validate(), await s.latentMap(), await s.reconstructions(), s.progress,
  ]);
  if (gen !== run.gen) return;
  const xy = map.xy;
  const pixels = Float32Array.from(recon);
  post({ event: 'eval', gen, valid, xy, knn5: map.knn5, projected: map.projected, recon: pixels, progress },
    [xy.buffer, pixels.buffer]);
}

function announceLoops() {
  post({ event: 'loops', gen: run.gen, loops: run.loops, loopsMax: run.loopsMax });
}

async function loop(gen) {
  run.loops++;
  run.loopsMax = Math.max(run.loopsMax, run.loops);
  announceLoops();
  try {
    while (run.running && gen === run.gen && run.session && !run.session.progress.done) {
      const s = run.session;
      const config = s.config;
      const t0 = performance.now();
      const report = await run.queue(() => s.train(run.chunk));
      const ms = performance.now() - t0;
      if (gen !== run.gen) return;
      run.throughput.samples += report.ran * config.batchSize;
      run.throughput.ms += ms;
      // Keep each chunk near CHUNK_MS, whatever the backend's speed.
      run.chunk = Math.max(1, Math.min(200, Math.round(run.chunk * Math.min(2, Math.max(0.5, CHUNK_MS / Math.max(ms, 1))))));
      const rate = run.throughput.samples / (run.throughput.ms / 1000);
      post({ event: 'progress', gen, report, rate, trainMs: run.throughput.ms });
      const epochEnded = report.epoch !== run.lastEpoch;
      run.lastEpoch = report.epoch;
      if (report.done || epochEnded || performance.now() - run.lastEval > EVAL_EVERY_MS) {
        run.lastEval = performance.now();
        await evaluate(s, gen);
      }
      // Let pause, reset and other requests in between chunks.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    if (gen === run.gen && run.session?.progress.done) {
      run.running = false;
      post({ event: 'done', gen });
    }
  } finally {
    run.loops--;
    announceLoops();
  }
}

/** Starts the loop unless one is running: a running loop sees `running` and carries on. */
function ensureLoop() {
  if (run.loopDone || !run.session) return;
  const gen = run.gen;
  run.loopDone = loop(gen)
    .catch((e) => {
      if (gen !== run.gen) return; // an error of a run that was reset meanwhile
      run.running = false;
      post({ event: 'error', gen, message: e?.message ?? String(e) });
    })
    .finally(() => {
      run.loopDone = null;
      // Resumed (or restarted after a reset) just as the previous loop was ending.
      if (run.running && run.session && !run.session.progress.done) ensureLoop();
    });
}

/** Drops the session (freed after the calls already queued on it) and stops wanting to train. */
function dropSession() {
  run.running = false;
  const old = run.session;
  run.session = null;
  run.sessionGen = -1;
  if (old) run.queue(() => old.free()).catch((e) => console.warn(e));
}

const ops = {
  async load() {
    const { loadMs } = await load();
    return { loadMs };
  },

  /** A new run of generation `gen` with `config`, evaluated once, then training. */
  async create({ gen, prefer, config }) {
    if (gen !== run.gen) throw new Error(`stale create (run ${gen}, now ${run.gen})`);
    const { images, labels } = await load();
    dropSession();
    const { backend, why } = await backendFor(prefer);
    const created = await LiveTraining.create(backend, images, labels, config);
    if (gen !== run.gen) { created.free(); return { stale: true }; } // reset meanwhile
    run.session = created;
    run.sessionGen = gen;
    run.queue = serial();
    run.chunk = 2;
    run.lastEpoch = 0;
    run.throughput = { samples: 0, ms: 0 };
    const info = { backend: { ...created.backend, passedOver: why }, config: created.config, validLabels: created.validLabels };
    post({ event: 'created', gen, ...info });
    run.lastEval = performance.now();
    await evaluate(created, gen); // the untrained model: the curves start at epoch 0
    if (gen !== run.gen) return { stale: true };
    run.running = true;
    ensureLoop();
    return info;
  },

  pause() {
    run.running = false;
    return { loops: run.loops };
  },

  resume() {
    if (!run.session) throw new Error('no training run to resume: start one');
    if (run.session.progress.done) return { done: true };
    run.running = true;
    ensureLoop();
    return { done: false };
  },

  /** Forgets the run; `gen` is the page's new generation. */
  reset({ gen }) {
    run.gen = gen;
    dropSession();
    return {};
  },

  /** The run's model as the files of a weights directory: {manifest, file, bytes}. */
  async exportFiles({ gen, trainSeconds }) {
    const s = run.session;
    if (!s || gen !== run.sessionGen) throw new Error('this training run was reset');
    return run.queue(() => s.exportFiles(trainSeconds));
  },

  /** Decodes a point of the run's latest latent map. */
  async decode({ gen, x, y }) {
    const s = run.session;
    if (!s || gen !== run.sessionGen) throw new Error('this training run was reset');
    const pixels = await run.queue(() => s.decode(x, y));
    return Float32Array.from(pixels);
  },
};

// --- the handwriting tuner --------------------------------------------------------------------

/** The tuner and its layers; every request on it runs whole, one after another. */
const teach = { tuner: null, layers: null, queue: serial() };

/** The tuner for `layers` (a new one when the layers change). Runs inside `teach.queue`. */
async function tuner(prefer, layers) {
  if (teach.tuner && teach.layers === layers) return teach.tuner;
  await load();
  teach.tuner?.free();
  teach.tuner = null;
  teach.tuner = await HandwritingTuner.create((await backendFor(prefer)).backend, layers);
  teach.layers = layers;
  return teach.tuner;
}

Object.assign(ops, {
  /** Fine-tunes on `images`/`labels`; returns the last loss, the steps so far and the time. */
  fit({ prefer, layers, images, labels, steps, learningRate }) {
    return teach.queue(async () => {
      const t = await tuner(prefer, layers);
      const t0 = performance.now();
      const loss = await t.fit(images, labels, steps, learningRate);
      return { loss, steps: t.steps, ms: performance.now() - t0 };
    });
  },

  probabilities({ prefer, layers, images, bundled }) {
    return teach.queue(async () => {
      const t = await tuner(prefer, layers);
      return Float32Array.from(await t.probabilities(images, bundled));
    });
  },

  tunerReset() {
    return teach.queue(() => { teach.tuner?.reset(); return {}; });
  },

  tunerDrop() {
    return teach.queue(() => {
      teach.tuner?.free();
      teach.tuner = null;
      teach.layers = null;
      return {};
    });
  },
});

self.onmessage = async ({ data }) => {
  const { id, op, ...args } = data ?? {};
  const handler = Object.hasOwn(ops, op) ? ops[op] : null;
  try {
    if (!handler) throw new Error(`unknown request ${JSON.stringify(op)}`);
    const value = await handler(args);
    post({ id, ok: true, value }, value instanceof Float32Array ? [value.buffer] : []);
  } catch (e) {
    post({ id, ok: false, error: e?.message ?? String(e) });
  }
};

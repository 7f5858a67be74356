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
/**
 * Evaluate (validation loss, map, reconstructions) at most this often while training, and at
 * most a fifth of the time: where an evaluation is slow (seconds on a software WebGPU adapter)
 * it would otherwise crowd out training and hold up the page's drawing, which cannot interrupt it.
 */
const EVAL_EVERY_MS = 1500;
const EVAL_SHARE = 0.2;

let ready = null;
/** The bundle and the subset's two files, loaded once; a load that fails is tried again by the
 * next request. */
function load() {
  ready ??= (async () => {
    const t0 = performance.now();
    const [, images, labels] = await Promise.all([
      init(),
      fetchBytes('../data/mnist-subset-images.idx.gz'),
      fetchBytes('../data/mnist-subset-labels.idx.gz'),
    ]);
    return { images, labels, loadMs: performance.now() - t0 };
  })().catch((e) => {
    ready = null;
    throw e;
  });
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

/** Training steps timed per backend (after one warm-up step that compiles the shaders). */
const MEASURED_STEPS = 3;
const routes = new Map();
/**
 * Where training of `config.model` runs, from the page's `?backend=` ("auto", "cpu" or
 * "webgpu"): the argument the wasm API takes ("auto": WebGPU with the CPU fallback, or "cpu"),
 * why when not WebGPU, and what was measured. In "auto", a few training steps are timed on each
 * backend and the faster one trains; a software WebGPU adapter is passed over without timing (it
 * trains 15–20× slower than the CPU backend, README: 194 vs 3,253 samples/s, and would hold up
 * the page's own WebGPU work meanwhile) unless `measureSoftware` (the page's `?measure=all`)
 * asks to time it anyway; it is still never chosen. Measured once per model kind.
 */
function backendFor(prefer, config, measureSoftware = false) {
  if (prefer === 'cpu') return Promise.resolve({ backend: 'cpu', why: null, measured: null });
  if (prefer === 'webgpu') return Promise.resolve({ backend: 'auto', why: null, measured: null });
  const key = config?.model ?? 'classifier';
  if (!routes.has(key)) {
    routes.set(key, (async () => {
      const adapter = await describeAdapter();
      if (!adapter) return { backend: 'cpu', why: null, measured: null };
      if (adapter.software && !measureSoftware) {
        return { backend: 'cpu', why: `the WebGPU adapter (${adapter.name}) is a software one, slower than the CPU backend`, measured: null };
      }
      if (!config) return { backend: adapter.software ? 'cpu' : 'auto', why: null, measured: null };
      const measured = { cpu: await trainingRate('cpu', config), webgpu: await trainingRate('auto', config) };
      const rate = (v) => `${Math.round(v).toLocaleString('en')} samples/s`;
      const figures = `measured CPU ${rate(measured.cpu)}, WebGPU ${measured.webgpu ? rate(measured.webgpu) : 'unavailable'}`;
      if (!adapter.software && measured.webgpu > measured.cpu) return { backend: 'auto', why: figures, measured };
      return {
        backend: 'cpu',
        why: adapter.software ? `the WebGPU adapter (${adapter.name}) is a software one (${figures})` : `faster than WebGPU (${figures})`,
        measured,
      };
    })().catch((e) => {
      routes.delete(key); // a failed measurement is tried again by the next run
      throw e;
    }));
  }
  return routes.get(key);
}

/** Training samples/s of `config` on `backend` ("cpu" or "auto"); 0 when WebGPU does not start. */
async function trainingRate(backend, config) {
  const { images, labels } = await load();
  const session = await LiveTraining.create(backend, images, labels, { ...config, epochs: 1 });
  try {
    if (backend === 'auto' && session.backend.kind !== 'webgpu') return 0;
    await session.train(1);
    const t0 = performance.now();
    const report = await session.train(MEASURED_STEPS);
    return (report.ran * config.batchSize) / ((performance.now() - t0) / 1000);
  } finally {
    session.free();
  }
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
  /** How long the latest evaluation took. */
  evalMs: 0,
  lastEpoch: 0,
  throughput: { samples: 0, ms: 0 },
  /** Until when (performance.now()) the loop waits: the page holds it while the user draws. */
  holdUntil: 0,
};

/**
 * Waits while the page holds the loop: one WebGPU device serves the page's drawing and this
 * worker's training one submission at a time, so a drawing made during training would wait
 * behind training steps (a second on a software adapter). Bounded by the hold's length.
 */
async function whileHeld(gen) {
  while (run.running && gen === run.gen && performance.now() < run.holdUntil) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(20, run.holdUntil - performance.now())));
  }
}

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
      await whileHeld(gen);
      if (!run.running || gen !== run.gen || !run.session) break;
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
      const due = Math.max(EVAL_EVERY_MS, run.evalMs / EVAL_SHARE);
      if (report.done || epochEnded || performance.now() - run.lastEval > due) {
        await whileHeld(gen);
        if (gen !== run.gen) return;
        const t1 = performance.now();
        await evaluate(s, gen);
        run.lastEval = performance.now();
        run.evalMs = run.lastEval - t1;
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

/** The committed weights, as the page hands them over (the training bundle carries none). */
let bundledWeights;

const ops = {
  async load({ weights }) {
    bundledWeights ??= weights;
    const { loadMs } = await load();
    return { loadMs };
  },

  /** A new run of generation `gen` with `config`, evaluated once, then training. */
  async create({ gen, prefer, config, measureSoftware }) {
    if (gen !== run.gen) throw new Error(`stale create (run ${gen}, now ${run.gen})`);
    const { images, labels } = await load();
    dropSession();
    const { backend, why, measured } = await backendFor(prefer, config, measureSoftware);
    if (gen !== run.gen) return { stale: true }; // reset while measuring
    const created = await LiveTraining.create(backend, images, labels, config);
    if (gen !== run.gen) { created.free(); return { stale: true }; } // reset meanwhile
    run.session = created;
    run.sessionGen = gen;
    run.queue = serial();
    run.chunk = 2;
    run.lastEpoch = 0;
    run.evalMs = 0;
    run.throughput = { samples: 0, ms: 0 };
    const info = { backend: { ...created.backend, passedOver: why, measured }, config: created.config, validLabels: created.validLabels };
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

  /**
   * The user is drawing, and the page answers on `device` ("webgpu" or "cpu"): while training
   * runs on the same WebGPU device, hold the loop between chunks for up to `ms` (until
   * `release`). Training on the CPU backend shares no device with the page and carries on.
   */
  hold({ ms, device }) {
    const shared = device === 'webgpu' && run.session?.backend.kind === 'webgpu';
    if (shared) run.holdUntil = performance.now() + Math.min(Math.max(Number(ms) || 0, 0), 5000);
    return { held: shared };
  },

  release() {
    run.holdUntil = 0;
    return {};
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
  if (!bundledWeights) throw new Error('the page has not handed the worker the bundled weights');
  teach.tuner = await HandwritingTuner.create((await backendFor(prefer, null)).backend, layers, bundledWeights);
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

  /** The fine-tuned classifier as weights-directory files (scored on the subset's validation digits). */
  tunerExport({ prefer, layers, trainSeconds }) {
    return teach.queue(async () => {
      const t = await tuner(prefer, layers);
      const { images, labels } = await load();
      return t.exportFiles(images, labels, trainSeconds);
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

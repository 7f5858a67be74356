// The drawing pad (mouse, pen and touch through pointer events) and the conversion of a
// drawing to MNIST's format: the ink's bounding box scaled to fit 20×20, then placed in 28×28
// so that its centre of mass is at the centre, as the data set was made.

import { SIDE, PIXELS } from './plot.js';

export class DrawingPad {
  constructor(canvas, onChange) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', { willReadFrequently: true });
    this.strokes = [];
    this.penWidth = 20;
    // Counts changes, so results can say which drawing they belong to (canvas data-version).
    this.version = 0;
    this.onChange = (done) => {
      this.version++;
      canvas.dataset.version = String(this.version);
      onChange(done);
    };
    canvas.style.touchAction = 'none'; // no scrolling or zooming while drawing
    canvas.addEventListener('pointerdown', (e) => this.start(e));
    canvas.addEventListener('pointermove', (e) => this.move(e));
    for (const type of ['pointerup', 'pointercancel']) canvas.addEventListener(type, (e) => this.end(e));
    this.redraw();
  }

  point(e) {
    const r = this.canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * (this.canvas.width / r.width), (e.clientY - r.top) * (this.canvas.height / r.height)];
  }

  start(e) {
    e.preventDefault();
    this.canvas.setPointerCapture(e.pointerId);
    this.active = { width: this.penWidth, points: [this.point(e)] };
    this.strokes.push(this.active);
    this.redraw();
    this.onChange(false);
  }

  move(e) {
    if (!this.active) return;
    e.preventDefault();
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    for (const ev of events.length ? events : [e]) this.active.points.push(this.point(ev));
    this.redraw();
    this.onChange(false);
  }

  end() {
    if (!this.active) return;
    this.active = null;
    this.onChange(true);
  }

  undo() {
    this.strokes.pop();
    this.redraw();
    this.onChange(true);
  }

  clear() {
    this.strokes = [];
    this.redraw();
    this.onChange(true);
  }

  /** Puts a 28×28 digit (values in [0, 1], ink = 1) on the pad in place of the drawing, scaled to
   * the pad: the keyboard's way to a drawing. Undo takes it away; strokes drawn after it add to it.
   * `caption` says what it is, while the pad holds it alone. */
  putDigit(pixels, caption = '') {
    const img = new ImageData(SIDE, SIDE);
    for (let i = 0; i < PIXELS; i++) {
      const v = Math.round(Math.min(1, Math.max(0, pixels[i])) * 255);
      img.data.set([v, v, v, 255], i * 4);
    }
    const image = new OffscreenCanvas(SIDE, SIDE);
    image.getContext('2d').putImageData(img, 0, 0);
    this.active = null;
    this.strokes = [{ image, caption }];
    this.redraw();
    this.onChange(true);
  }

  /** What the pad shows, where it is a digit put on it ('' for a drawing). */
  get caption() {
    return this.strokes.length === 1 ? (this.strokes[0].caption ?? '') : '';
  }

  isEmpty() {
    return this.strokes.length === 0;
  }

  redraw() {
    const { ctx, canvas } = this;
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.strokeStyle = '#fff';
    ctx.fillStyle = '#fff';
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    for (const s of this.strokes) {
      if (s.image) {
        ctx.imageSmoothingEnabled = true;
        ctx.drawImage(s.image, 0, 0, canvas.width, canvas.height);
        continue;
      }
      ctx.lineWidth = s.width;
      if (s.points.length === 1) {
        const [x, y] = s.points[0];
        ctx.beginPath();
        ctx.arc(x, y, s.width / 2, 0, 2 * Math.PI);
        ctx.fill();
        continue;
      }
      ctx.beginPath();
      ctx.moveTo(...s.points[0]);
      for (const p of s.points.slice(1)) ctx.lineTo(...p);
      ctx.stroke();
    }
  }

  /** The drawing as 784 values in [0, 1] (ink = 1), MNIST-style; null when there is no ink. */
  toMnist() {
    if (this.isEmpty()) return null;
    const { width, height } = this.canvas;
    const src = this.ctx.getImageData(0, 0, width, height).data;
    let [x0, y0, x1, y1] = [width, height, -1, -1];
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (src[(y * width + x) * 4] > 20) {
          x0 = Math.min(x0, x); x1 = Math.max(x1, x);
          y0 = Math.min(y0, y); y1 = Math.max(y1, y);
        }
      }
    }
    if (x1 < 0) return null;
    // Scale the box so its longer side is 20 pixels, keeping the aspect ratio.
    const bw = x1 - x0 + 1;
    const bh = y1 - y0 + 1;
    const scale = 20 / Math.max(bw, bh);
    const w = Math.max(1, Math.round(bw * scale));
    const h = Math.max(1, Math.round(bh * scale));
    const small = new OffscreenCanvas(w, h);
    const sctx = small.getContext('2d', { willReadFrequently: true });
    sctx.imageSmoothingEnabled = true;
    sctx.imageSmoothingQuality = 'high';
    // Downscale in halving steps: one big step aliases thin strokes away.
    let source = this.canvas;
    let [sx, sy, sw, sh] = [x0, y0, bw, bh];
    while (sw > 2 * w && sh > 2 * h) {
      const half = new OffscreenCanvas(Math.ceil(sw / 2), Math.ceil(sh / 2));
      const hctx = half.getContext('2d');
      hctx.imageSmoothingQuality = 'high';
      hctx.drawImage(source, sx, sy, sw, sh, 0, 0, half.width, half.height);
      [source, sx, sy, sw, sh] = [half, 0, 0, half.width, half.height];
    }
    sctx.drawImage(source, sx, sy, sw, sh, 0, 0, w, h);
    const px = sctx.getImageData(0, 0, w, h).data;
    const box = new Float32Array(w * h);
    let mass = 0, mx = 0, my = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = px[(y * w + x) * 4] / 255;
        box[y * w + x] = v;
        mass += v; mx += v * x; my += v * y;
      }
    }
    if (mass <= 0) return null;
    // Place the box so that its centre of mass lands on the image centre (14, 14).
    const ox = Math.round(SIDE / 2 - (mx / mass + 0.5));
    const oy = Math.round(SIDE / 2 - (my / mass + 0.5));
    const out = new Float32Array(PIXELS);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const tx = x + ox, ty = y + oy;
        if (tx >= 0 && tx < SIDE && ty >= 0 && ty < SIDE) out[ty * SIDE + tx] = box[y * w + x];
      }
    }
    return out;
  }
}

// Shared canvas helpers: grey images, image grids, bar charts, scatter plots.

export const SIDE = 28;
export const PIXELS = SIDE * SIDE;

// Ten colours that stay distinct for the common forms of colour blindness (Okabe–Ito + 2).
export const DIGIT_COLORS = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9',
  '#d55e00', '#f0e442', '#000000', '#999999', '#882255'];

/** Writes the 28×28 image at `pixels[offset…]` (values in [0, 1], ink = 1) as dark on white
 * into `rgba` (an image `width` pixels wide) with its top left corner at (x, y). */
function writeDigit(rgba, width, x, y, pixels, offset) {
  for (let row = 0; row < SIDE; row++) {
    let j = 4 * ((y + row) * width + x);
    for (let col = 0; col < SIDE; col++, j += 4) {
      const ink = pixels[offset + row * SIDE + col];
      // 255 − round(255·ink) for ink in [0, 1], clamped (NaN reads as no ink).
      const v = ink > 0 ? (ink < 1 ? 255 - ((ink * 255 + 0.5) | 0) : 0) : 255;
      rgba[j] = v; rgba[j + 1] = v; rgba[j + 2] = v; rgba[j + 3] = 255;
    }
  }
}

/** Puts `image` on the canvas at (x, y), scaled by `scale` without smoothing (pixels stay
 * square). */
function putScaled(ctx, image, x, y, scale) {
  if (scale === 1) {
    ctx.putImageData(image, x, y);
    return;
  }
  const tmp = new OffscreenCanvas(image.width, image.height);
  tmp.getContext('2d').putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, x, y, image.width * scale, image.height * scale);
}

/** Draws one 28×28 image (values in [0, 1], ink = 1) at (x, y), scaled to `size` pixels. */
export function drawDigit(ctx, pixels, offset = 0, x = 0, y = 0, size = SIDE) {
  const img = new ImageData(SIDE, SIDE);
  writeDigit(img.data, SIDE, 0, 0, pixels, offset);
  putScaled(ctx, img, x, y, size / SIDE);
}

/** Fills a canvas with one digit. */
export function showDigit(canvas, pixels, offset = 0) {
  const ctx = canvas.getContext('2d');
  drawDigit(ctx, pixels, offset, 0, 0, canvas.width === SIDE ? SIDE : canvas.width);
}

/** Lays out `count` digits from `pixels` in rows of `columns` across the canvas: one image for
 * the whole grid, put (and scaled) once, as a grid of 900 digits is drawn on the main thread. */
export function drawGrid(canvas, pixels, count, columns) {
  const rows = Math.ceil(count / columns);
  const img = new ImageData(columns * SIDE, rows * SIDE);
  img.data.fill(255);
  for (let i = 0; i < count; i++) writeDigit(img.data, img.width, (i % columns) * SIDE, Math.floor(i / columns) * SIDE, pixels, i * PIXELS);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  putScaled(ctx, img, 0, 0, canvas.width / img.width);
}

/** Horizontal-label bar chart of ten probabilities; the largest is highlighted. */
export function drawBars(canvas, probs) {
  const ctx = canvas.getContext('2d');
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const slot = width / 10;
  const top = 18;
  const base = height - 20;
  const best = probs ? probs.indexOf(Math.max(...probs)) : -1;
  ctx.font = '13px system-ui, sans-serif';
  ctx.textAlign = 'center';
  for (let k = 0; k < 10; k++) {
    const p = probs ? probs[k] : 0;
    const h = (base - top) * p;
    ctx.fillStyle = k === best ? '#0b63c5' : '#9db8d9';
    ctx.fillRect(k * slot + 4, base - h, slot - 8, h);
    ctx.fillStyle = '#222';
    ctx.fillText(String(k), k * slot + slot / 2, height - 5);
    if (probs && p >= 0.01) ctx.fillText(`${Math.round(p * 100)}`, k * slot + slot / 2, base - h - 4);
  }
}

/** Maps data coordinates to canvas pixels for a square plot with a margin. */
export function scaler(bounds, canvas, margin = 8) {
  const [x0, x1, y0, y1] = bounds;
  const w = canvas.width - 2 * margin;
  const h = canvas.height - 2 * margin;
  return {
    toPx: (x, y) => [margin + ((x - x0) / (x1 - x0)) * w, margin + ((y1 - y) / (y1 - y0)) * h],
    toData: (px, py) => [x0 + ((px - margin) / w) * (x1 - x0), y1 - ((py - margin) / h) * (y1 - y0)],
  };
}

/** Scatter of labelled 2-D points (xy interleaved), coloured by label. */
export function drawScatter(ctx, xy, labels, scale, radius = 1.3, alpha = 0.55) {
  ctx.globalAlpha = alpha;
  for (let i = 0; i < labels.length; i++) {
    const [px, py] = scale.toPx(xy[2 * i], xy[2 * i + 1]);
    ctx.fillStyle = DIGIT_COLORS[labels[i]];
    ctx.fillRect(px - radius, py - radius, 2 * radius, 2 * radius);
  }
  ctx.globalAlpha = 1;
}

/** Runs `draw` once `element` first comes near the screen: the maps' 10,000 points are not
 * drawn at start-up where nobody sees them (on a phone, screens below). */
export function whenSeen(element, draw) {
  if (typeof IntersectionObserver === 'undefined') { draw(); return; }
  const seen = new IntersectionObserver((entries) => {
    if (!entries.some((e) => e.isIntersecting)) return;
    seen.disconnect();
    draw();
  }, { rootMargin: '300px' });
  seen.observe(element);
}

/** Each class's median point (x, y) of interleaved points, or null for a class without any;
 * kept per array, as the latent explorer redraws the same map at every move. */
const centresOf = new WeakMap();
function classCentres(xy, labels) {
  if (centresOf.has(xy)) return centresOf.get(xy);
  // A typed array sorts numerically in native code: 5x faster than a comparator on 1,000 points
  // (these run on the main thread when the maps arrive).
  const median = (v) => Float64Array.from(v).sort()[v.length >> 1];
  const centres = Array.from({ length: 10 }, (_, k) => {
    const xs = [], ys = [];
    for (let i = 0; i < labels.length; i++) if (labels[i] === k) { xs.push(xy[2 * i]); ys.push(xy[2 * i + 1]); }
    return xs.length ? [median(xs), median(ys)] : null;
  });
  centresOf.set(xy, centres);
  return centres;
}

/** Each class's numeral at its median point, dark on a white halo: the map reads without
 * its colours. */
export function drawClassLabels(ctx, xy, labels, scale) {
  ctx.save();
  ctx.font = 'bold 15px system-ui, sans-serif';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.lineWidth = 4;
  ctx.strokeStyle = '#fff';
  ctx.fillStyle = '#1c1f24';
  classCentres(xy, labels).forEach((c, k) => {
    if (!c) return;
    const [px, py] = scale.toPx(c[0], c[1]);
    ctx.strokeText(String(k), px, py);
    ctx.fillText(String(k), px, py);
  });
  ctx.restore();
}

/** A legend of the ten digit colours in a DOM element (a list of "colour, digit" items). */
export function legend(element) {
  element.replaceChildren(...DIGIT_COLORS.map((c, k) => {
    const item = document.createElement('span');
    item.className = 'legend-item';
    item.setAttribute('role', 'listitem');
    const dot = document.createElement('i');
    dot.style.background = c;
    dot.setAttribute('aria-hidden', 'true');
    item.append(dot, String(k));
    return item;
  }));
}

/**
 * Line chart of one or more series on a log-scaled y axis (losses), x in epochs.
 * `series`: [{ label, color, points: [[x, y], ...] }]. Axes, ticks and a legend are drawn in.
 */
export function drawCurves(canvas, series, { xLabel = 'epoch', yLabel = 'loss' } = {}) {
  const ctx = canvas.getContext('2d');
  const { width, height } = canvas;
  const m = { left: 52, right: 10, top: 22, bottom: 34 };
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  const all = series.flatMap((s) => s.points).filter(([, y]) => y > 0 && Number.isFinite(y));
  ctx.font = '12px system-ui, sans-serif';
  ctx.fillStyle = '#5f6673';
  if (!all.length) {
    ctx.textAlign = 'center';
    ctx.fillText('press Start to train', width / 2, height / 2);
    return;
  }
  const xMax = Math.max(1, ...all.map(([x]) => x));
  let [yMin, yMax] = [Math.min(...all.map(([, y]) => y)), Math.max(...all.map(([, y]) => y))];
  if (yMax / yMin < 1.5) { yMin /= 1.25; yMax *= 1.25; }
  const [l0, l1] = [Math.log10(yMin), Math.log10(yMax)];
  const px = (x) => m.left + (x / xMax) * (width - m.left - m.right);
  const py = (y) => m.top + ((l1 - Math.log10(y)) / (l1 - l0)) * (height - m.top - m.bottom);
  // Axes and ticks: epochs on x, a few round values on y.
  ctx.strokeStyle = '#c8cdd5';
  ctx.beginPath();
  ctx.moveTo(m.left, m.top); ctx.lineTo(m.left, height - m.bottom); ctx.lineTo(width - m.right, height - m.bottom);
  ctx.stroke();
  ctx.textAlign = 'center';
  const xStep = Math.max(1, Math.ceil(xMax / 8));
  for (let x = 0; x <= xMax + 1e-9; x += xStep) ctx.fillText(String(x), px(x), height - m.bottom + 14);
  ctx.fillText(xLabel, (m.left + width - m.right) / 2, height - 4);
  ctx.textAlign = 'right';
  for (let i = 0; i <= 4; i++) {
    const y = 10 ** (l0 + ((l1 - l0) * i) / 4);
    ctx.fillText(y >= 10 ? y.toFixed(0) : y.toPrecision(2), m.left - 4, py(y) + 4);
  }
  ctx.save();
  ctx.translate(12, (m.top + height - m.bottom) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = 'center';
  ctx.fillText(`${yLabel} (log scale)`, 0, 0);
  ctx.restore();
  // Series and legend.
  let legendX = m.left + 6;
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.lineWidth = 1.8;
    ctx.beginPath();
    s.points.forEach(([x, y], i) => (i ? ctx.lineTo(px(x), py(y)) : ctx.moveTo(px(x), py(y))));
    ctx.stroke();
    if (s.points.length === 1) ctx.fillRect(px(s.points[0][0]) - 2, py(s.points[0][1]) - 2, 4, 4);
    ctx.fillRect(legendX, 8, 14, 3);
    ctx.fillStyle = '#1c1f24';
    ctx.textAlign = 'left';
    ctx.fillText(s.label, legendX + 18, 14);
    legendX += 26 + ctx.measureText(s.label).width;
  }
  ctx.lineWidth = 1;
}

/** Bounds [x0, x1, y0, y1] around interleaved points, with a margin. */
export function boundsOf(xy, pad = 0.05) {
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (let i = 0; i < xy.length; i += 2) {
    x0 = Math.min(x0, xy[i]); x1 = Math.max(x1, xy[i]);
    y0 = Math.min(y0, xy[i + 1]); y1 = Math.max(y1, xy[i + 1]);
  }
  const dx = (x1 - x0 || 1) * pad, dy = (y1 - y0 || 1) * pad;
  return [x0 - dx, x1 + dx, y0 - dy, y1 + dy];
}

#!/usr/bin/env node
// Draws the web app's icons (www/icons/*.png, committed) from one MNIST training digit, as the
// page shows digits: 28x28 pixels, upscaled without smoothing, white ink on the page's accent blue.
// The maskable icon keeps the digit inside the central 60% (the safe zone is the central 80% circle).
//
// Usage: node scripts/make-icons.mjs [DIGIT_INDEX]   (default 0: the training set's first digit, a 5)

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { crc32, deflateSync, gunzipSync } from 'node:zlib';

const SIDE = 28;
const BACKGROUND = [0x0b, 0x63, 0xc5]; // --accent in www/style.css
const INK = [0xff, 0xff, 0xff];

function digitPixels(index) {
  const images = gunzipSync(readFileSync('www/data/mnist-subset-images.idx.gz'));
  const count = images.readUInt32BE(4);
  if (images.readUInt32BE(0) !== 0x803 || images.readUInt32BE(8) !== SIDE || images.readUInt32BE(12) !== SIDE) {
    throw new Error('www/data/mnist-subset-images.idx.gz: not an idx3 file of 28x28 images');
  }
  if (!Number.isInteger(index) || index < 0 || index >= count) throw new Error(`digit index ${index}: must be an integer from 0 to ${count - 1}`);
  return images.subarray(16 + index * SIDE * SIDE, 16 + (index + 1) * SIDE * SIDE);
}

/** RGB rows of a `size`-pixel square icon: the digit's 28x28 pixels fill `fraction` of it, centred. */
function iconRows(pixels, size, fraction) {
  const cell = Math.floor((size * fraction) / SIDE);
  const offset = Math.floor((size - cell * SIDE) / 2);
  const rows = [];
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 3); // filter byte 0 (none), then RGB
    for (let x = 0; x < size; x++) {
      const px = Math.floor((x - offset) / cell), py = Math.floor((y - offset) / cell);
      const ink = px >= 0 && px < SIDE && py >= 0 && py < SIDE ? pixels[py * SIDE + px] / 255 : 0;
      for (let c = 0; c < 3; c++) row[1 + x * 3 + c] = Math.round(BACKGROUND[c] + (INK[c] - BACKGROUND[c]) * ink);
    }
    rows.push(row);
  }
  return Buffer.concat(rows);
}

function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

function png(size, rows) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', header), chunk('IDAT', deflateSync(rows, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

const index = Number(process.argv[2] ?? 0);
const pixels = digitPixels(index);
mkdirSync('www/icons', { recursive: true });
for (const [name, size, fraction] of [['icon-192.png', 192, 0.85], ['icon-512.png', 512, 0.85], ['icon-maskable-512.png', 512, 0.6]]) {
  const bytes = png(size, iconRows(pixels, size, fraction));
  writeFileSync(`www/icons/${name}`, bytes);
  console.log(`www/icons/${name}: ${size}x${size}, ${bytes.length} bytes`);
}

/**
 * The perceptual hash of a picture, made to find copies of it: re-encoded (JPEG, PNG, WebP),
 * resized, made a little brighter or darker, or cropped by up to 5 % a side.
 *
 * Written here rather than taken from a library: the hashes on npm that work on decoded pixels
 * (blockhash-core, and imghash and image-hash, which wrap it) hash the whole frame, and so does
 * every DCT hash there (sharp-phash through sharp's native library, Jimp's through its own image
 * classes): a crop of 5 % a side moves a whole-frame hash as far from its photograph as different
 * photographs are from each other (measured in bench/replay-threshold.ts, bench/results.md), so no
 * distance tells them apart. What tells them apart is comparing the same part of both pictures.
 *
 * The hash is 17 DCT sign hashes (each the pHash of pHash.org, Zauner 2010, widened to 16 × 16
 * frequencies) of 17 windows of the upright picture in grey: the whole frame, and 16 inner windows
 * that leave 1.25 % or 3.75 % of the frame out at each of the four sides. A copy cropped by up to
 * 5 % a side shows, in its whole frame, nearly the same part of the picture (within 1.25 % a side)
 * as one of its original's inner windows, and the other way round; comparing each picture's whole
 * frame with the other's windows (lib/replay/bands.ts, isSimilar) finds that pair. The hash is a
 * digest: 255 signs of coarse frequencies per window, from which no picture can be drawn back
 * beyond a blur of light and dark.
 */

/** Decoded pixels, RGBA, row by row as stored in the file, and the EXIF orientation (1–8) they are shown in; 1 when absent. */
export interface OrientedPixels {
  width: number;
  height: number;
  data: ArrayLike<number>;
  orientation?: number;
}

/** Frequencies kept on each axis of a window: 16 × 16 less the mean, 255 bits. */
export const FREQUENCIES = 16;
/** Hex digits of one window's hash: 256 bits, the first (the mean's) always 0. */
export const WINDOW_HEX = (FREQUENCIES * FREQUENCIES) / 4;
/** The margins (shares of the frame) an inner window leaves out at a side. */
const MARGINS = [0.0125, 0.0375] as const;
/** Windows hashed: the whole frame first, then every choice of margin at the left, top, right and bottom. */
export const WINDOWS = 1 + MARGINS.length ** 4;
/** Samples across a window: its grey pixels are averaged to 32 × 32 before the DCT. */
const SAMPLES = 32;
/** Cells along the long side of the picture's grey grid: enough for 32 samples of the smallest window, and one pass over the pixels. */
const GRID = 64;

/** cos((2x + 1)uπ / 64) for the 16 frequencies kept over the 32 samples. */
const COSINES: Float64Array = (() => {
  const table = new Float64Array(FREQUENCIES * SAMPLES);
  for (let u = 0; u < FREQUENCIES; u += 1) {
    for (let x = 0; x < SAMPLES; x += 1) table[u * SAMPLES + x] = Math.cos(((2 * x + 1) * u * Math.PI) / (2 * SAMPLES));
  }
  return table;
})();

/**
 * The perceptual hash of the picture as shown: 17 windows of 64 lowercase hex digits each, the
 * whole frame first (1088 digits).
 *
 * @example
 * const hash = perceptualHash({ width, height, data, orientation: 6 });
 * isSimilar(hash, perceptualHash(copy)); // true for a re-encoded, resized or lightly cropped copy
 */
export function perceptualHash(pixels: OrientedPixels): string {
  const grid = greyGrid(pixels);
  const columns = axisWindows(grid.width);
  const rows = axisWindows(grid.height);
  let hex = windowHash(grid, columns[0] as Taps, rows[0] as Taps);
  for (const left of [0, 1]) {
    for (const top of [0, 1]) {
      for (const right of [0, 1]) {
        for (const bottom of [0, 1]) hex += windowHash(grid, columns[1 + left * 2 + right] as Taps, rows[1 + top * 2 + bottom] as Taps);
      }
    }
  }
  return hex;
}

interface Grid {
  width: number;
  height: number;
  cells: Float64Array;
}

/**
 * The picture upright (EXIF orientation applied) in grey (Rec. 601 luma, transparent pixels over
 * white), each cell of a grid of at most 64 cells on its long side the mean of the pixels it
 * covers; the grid keeps the picture's proportions, so that a crop only moves what it shows. One
 * pass over the pixels.
 */
function greyGrid({ width, height, data, orientation = 1 }: OrientedPixels): Grid {
  const turned = orientation >= 5 && orientation <= 8;
  const shownWidth = turned ? height : width;
  const shownHeight = turned ? width : height;
  const long = Math.max(shownWidth, shownHeight);
  const gridWidth = long <= GRID ? shownWidth : Math.max(1, Math.round((GRID * shownWidth) / long));
  const gridHeight = long <= GRID ? shownHeight : Math.max(1, Math.round((GRID * shownHeight) / long));
  const cellX = (shownX: number) => Math.floor((shownX * gridWidth) / shownWidth);
  const cellY = (shownY: number) => Math.floor((shownY * gridHeight) / shownHeight) * gridWidth;
  // Where each stored column and row lands in the grid: the cell is their sum.
  const flipX = orientation === 2 || orientation === 3 || orientation === 7 || orientation === 8;
  const flipY = orientation === 3 || orientation === 4 || orientation === 6 || orientation === 7;
  const column = Int32Array.from({ length: width }, (_, x) => {
    const along = flipX ? width - 1 - x : x;
    return turned ? cellY(along) : cellX(along);
  });
  const row = Int32Array.from({ length: height }, (_, y) => {
    const along = flipY ? height - 1 - y : y;
    return turned ? cellX(along) : cellY(along);
  });
  const sums = new Float64Array(gridWidth * gridHeight);
  const counts = new Float64Array(gridWidth * gridHeight);
  for (let y = 0; y < height; y += 1) {
    const base = row[y] as number;
    for (let x = 0, at = y * width * 4; x < width; x += 1, at += 4) {
      const cell = base + (column[x] as number);
      const alpha = data[at + 3] as number;
      const luma = 0.299 * (data[at] as number) + 0.587 * (data[at + 1] as number) + 0.114 * (data[at + 2] as number);
      sums[cell] = (sums[cell] as number) + (alpha === 255 ? luma : (luma * alpha + 255 * (255 - alpha)) / 255);
      counts[cell] = (counts[cell] as number) + 1;
    }
  }
  for (let cell = 0; cell < sums.length; cell += 1) sums[cell] = (sums[cell] as number) / (counts[cell] as number);
  return { width: gridWidth, height: gridHeight, cells: sums };
}

/** For each of the 32 samples across a window, the grid cells it covers and their shares. */
type Taps = Array<Array<[number, number]>>;

/** The taps along one axis of `cells` cells for each window side choice: the whole frame, then margins (start, end) of (m0, m0), (m0, m1), (m1, m0), (m1, m1). */
function axisWindows(cells: number): Taps[] {
  const spans: Array<[number, number]> = [[0, 0]];
  for (const start of MARGINS) for (const end of MARGINS) spans.push([start, end]);
  return spans.map(([start, end]) => {
    const from = start * cells;
    const step = ((1 - start - end) * cells) / SAMPLES;
    return Array.from({ length: SAMPLES }, (_, sample) => {
      const left = from + sample * step;
      const right = left + step;
      const taps: Array<[number, number]> = [];
      for (let cell = Math.floor(left); cell < Math.min(cells, Math.ceil(right)); cell += 1) {
        taps.push([cell, (Math.min(right, cell + 1) - Math.max(left, cell)) / step]);
      }
      return taps;
    });
  });
}

/** One window's 32 × 32 grey samples, their 16 × 16 lowest DCT frequencies, one bit per frequency but the mean: set when it is positive. */
function windowHash(grid: Grid, columns: Taps, rows: Taps): string {
  // Across first (each grid row to 32 samples), then down.
  const across = new Float64Array(grid.height * SAMPLES);
  for (let y = 0; y < grid.height; y += 1) {
    for (let x = 0; x < SAMPLES; x += 1) {
      let sum = 0;
      for (const [cell, share] of columns[x] as Array<[number, number]>) sum += (grid.cells[y * grid.width + cell] as number) * share;
      across[y * SAMPLES + x] = sum;
    }
  }
  const samples = new Float64Array(SAMPLES * SAMPLES);
  for (let y = 0; y < SAMPLES; y += 1) {
    for (const [cell, share] of rows[y] as Array<[number, number]>) {
      for (let x = 0; x < SAMPLES; x += 1) samples[y * SAMPLES + x] = (samples[y * SAMPLES + x] as number) + (across[cell * SAMPLES + x] as number) * share;
    }
  }
  // The 2-D DCT-II, rows to their 16 frequencies, then columns.
  const rowFrequencies = new Float64Array(SAMPLES * FREQUENCIES);
  let scale = 0;
  for (let y = 0; y < SAMPLES; y += 1) {
    for (let u = 0; u < FREQUENCIES; u += 1) {
      let sum = 0;
      for (let x = 0; x < SAMPLES; x += 1) sum += (samples[y * SAMPLES + x] as number) * (COSINES[u * SAMPLES + x] as number);
      rowFrequencies[y * FREQUENCIES + u] = sum;
    }
    scale += Math.abs(samples[y * SAMPLES] as number);
  }
  // A flat picture's frequencies are rounding noise: below this they count as 0.
  const floor = (scale + 1) * 1e-9;
  let hex = '';
  let nibble = 0;
  for (let v = 0; v < FREQUENCIES; v += 1) {
    for (let u = 0; u < FREQUENCIES; u += 1) {
      let sum = 0;
      for (let y = 0; y < SAMPLES; y += 1) sum += (rowFrequencies[y * FREQUENCIES + u] as number) * (COSINES[v * SAMPLES + y] as number);
      const bit = (v > 0 || u > 0) && sum > floor ? 1 : 0;
      nibble = (nibble << 1) | bit;
      if (u % 4 === 3) {
        hex += nibble.toString(16);
        nibble = 0;
      }
    }
  }
  return hex;
}

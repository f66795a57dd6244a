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
 * frame with the other's windows (lib/replay/bands.ts, isSimilar) finds that pair.
 *
 * Beside its signs, each window's 30 coarsest frequencies carry how steady their signs are: how
 * far each lies from zero against how far it moves when the window's edges move by 1.25 %, the
 * misalignment a crop leaves between a copy's window and its original's (read from the windows
 * next to it). The index (lib/replay/bands.ts) flips the least steady signs of a window's code to
 * guess the codes a copy has. The hash is a digest, and is stored nowhere whole: 255 signs of
 * coarse frequencies per window and 30 levels of 16, from which no picture can be drawn back
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
/**
 * The coarsest frequencies (v, u), lowest first: ordered by v + u, then by the larger of the two.
 * The hash holds the steadiness of each; a window's index code is the signs of the first few.
 */
export const COARSE_FREQUENCIES: ReadonlyArray<readonly [number, number]> = (() => {
  const all: Array<[number, number]> = [];
  for (let v = 0; v < FREQUENCIES; v += 1) for (let u = 0; u < FREQUENCIES; u += 1) if (v + u > 0) all.push([v, u]);
  return all.sort((a, b) => a[0] + a[1] - (b[0] + b[1]) || Math.max(...a) - Math.max(...b) || a[0] - b[0]).slice(0, 30);
})();
/** Where the steadiness levels start in the hash: after every window's signs. */
export const SIGNS_HEX = WINDOWS * WINDOW_HEX;
/** Hex digits of the hash: every window's signs, the whole frame first, then every window's steadiness levels, one digit for each coarse frequency. */
export const HASH_HEX = SIGNS_HEX + WINDOWS * COARSE_FREQUENCIES.length;
/** The steadiness level (0–15) of a sign as large as its move; each level up, √2 times larger. */
export const STEADY_LEVEL = 8;
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
 * The perceptual hash of the picture as shown, lowercase hex: the signs of 17 windows, 64 digits
 * each, the whole frame first (1088 digits), then the steadiness of each window's coarse
 * frequencies, a digit each (510 digits).
 *
 * @example
 * const hash = perceptualHash({ width, height, data, orientation: 6 });
 * isSimilar(hash, perceptualHash(copy)); // true for a re-encoded, resized or lightly cropped copy
 */
export function perceptualHash(pixels: OrientedPixels): string {
  const grid = greyGrid(pixels);
  const columns = axisWindows(grid.width);
  const rows = axisWindows(grid.height);
  const windows = [windowFrequencies(grid, columns[0] as Taps, rows[0] as Taps)];
  for (const left of [0, 1]) {
    for (const top of [0, 1]) {
      for (const right of [0, 1]) {
        for (const bottom of [0, 1]) windows.push(windowFrequencies(grid, columns[1 + left * 2 + right] as Taps, rows[1 + top * 2 + bottom] as Taps));
      }
    }
  }
  return windows.map(signs).join('') + windows.map((_, window) => steadiness(windows, window)).join('');
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

/** A window's 16 × 16 lowest DCT frequencies, row by row (the mean first), and the size under which they count as 0. */
interface WindowFrequencies {
  values: Float64Array;
  floor: number;
}

/** One window's 32 × 32 grey samples and their 16 × 16 lowest DCT frequencies. */
function windowFrequencies(grid: Grid, columns: Taps, rows: Taps): WindowFrequencies {
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
  const values = new Float64Array(FREQUENCIES * FREQUENCIES);
  for (let v = 0; v < FREQUENCIES; v += 1) {
    for (let u = 0; u < FREQUENCIES; u += 1) {
      let sum = 0;
      for (let y = 0; y < SAMPLES; y += 1) sum += (rowFrequencies[y * FREQUENCIES + u] as number) * (COSINES[v * SAMPLES + y] as number);
      values[v * FREQUENCIES + u] = sum;
    }
  }
  // A flat picture's frequencies are rounding noise: below this they count as 0.
  return { values, floor: (scale + 1) * 1e-9 };
}

/** A window's signs, one bit per frequency but the mean: set when it is positive. */
function signs({ values, floor }: WindowFrequencies): string {
  let hex = '';
  for (let at = 0; at < values.length; at += 4) {
    let nibble = 0;
    for (let bit = at; bit < at + 4; bit += 1) nibble = (nibble << 1) | (bit > 0 && (values[bit] as number) > floor ? 1 : 0);
    hex += nibble.toString(16);
  }
  return hex;
}

/**
 * The windows whose edges lie nearest a window's, and how far apart: for an inner window, the
 * four whose margin differs at one side (1.25 % against 3.75 %); for the whole frame, the window
 * 1.25 % in at every side.
 */
function neighbours(window: number): { windows: number[]; apart: number } {
  if (window === 0) return { windows: [1], apart: MARGINS[0] };
  return { windows: [0, 1, 2, 3].map((side) => 1 + ((window - 1) ^ (1 << side))), apart: MARGINS[1] - MARGINS[0] };
}

/**
 * A digit for each coarse frequency of a window: how many times its size is its move, the most it
 * changes (from the windows next to it) when an edge moves by 1.25 %, on a scale of √2 a level,
 * STEADY_LEVEL when equal; 0 for a frequency that counts as 0, 15 for one that does not move.
 */
function steadiness(windows: WindowFrequencies[], window: number): string {
  const { values, floor } = windows[window] as WindowFrequencies;
  const near = neighbours(window);
  return COARSE_FREQUENCIES.map(([v, u]) => {
    const at = v * FREQUENCIES + u;
    const size = Math.abs(values[at] as number);
    if (size <= floor) return '0';
    const move = Math.max(...near.windows.map((other) => Math.abs((values[at] as number) - ((windows[other] as WindowFrequencies).values[at] as number)))) * (MARGINS[0] / near.apart);
    const level = move === 0 ? 15 : Math.round(2 * Math.log2(size / move)) + STEADY_LEVEL;
    return Math.min(15, Math.max(0, level)).toString(16);
  }).join('');
}

/**
 * The perceptual hash of a picture: 64 bits that stay nearly the same when the picture is
 * re-encoded (JPEG, PNG, WebP), resized, lightly cropped or made a little brighter or darker, and
 * differ in about half their bits between different photographs.
 *
 * Written here rather than taken from a library: the hashes on npm that work on decoded pixels are
 * blockhash (blockhash-core, and imghash and image-hash, which wrap it), and measured on the same
 * photographs and copies (bench/replay-threshold.ts, in bench/results.md) blockhash puts crops
 * of a photograph further from it than some different photographs are from each other, so no
 * threshold separates them; the DCT hash below does. The DCT hashes on npm either decode and resize
 * through sharp (a native library, sharp-phash) or through Jimp's own image classes, and we already
 * hold the pixels. This is the pHash of pHash.org (Zauner, 2010): the picture upright (EXIF
 * orientation applied), in grey, averaged down to 32 × 32, its 2-D DCT, and one bit per coefficient
 * of the 8 × 8 lowest frequencies after the first row and column, set when it is above their median.
 */

/** 8-bit RGBA pixels as stored in the file, and the EXIF orientation (1–8) they are meant to be shown in. */
export interface OrientedPixels {
  width: number;
  height: number;
  data: Uint8Array;
  orientation: number;
}

/** Hex digits of a perceptual hash: 64 bits. */
export const PERCEPTUAL_HASH_BITS = 64;
const SIDE = 32;
const FREQUENCIES = 8;

/** cos((2x + 1)uπ / 2N) for the frequencies kept (1..8) over the 32 samples. */
const COSINES: Float64Array = (() => {
  const table = new Float64Array(FREQUENCIES * SIDE);
  for (let u = 0; u < FREQUENCIES; u += 1) {
    for (let x = 0; x < SIDE; x += 1) table[u * SIDE + x] = Math.cos(((2 * x + 1) * (u + 1) * Math.PI) / (2 * SIDE));
  }
  return table;
})();

/**
 * The 64-bit perceptual hash of the picture, as 16 lowercase hex digits.
 *
 * @example
 * const hash = perceptualHash({ width, height, data, orientation: 6 }); // e.g. 'c3e1f0b08c9f3a12'
 */
export function perceptualHash(pixels: OrientedPixels): string {
  const grey = upright(greyThumbnail(pixels), pixels.orientation);
  // Rows first (each of the 32 rows to its 8 frequencies), then columns.
  const rows = new Float64Array(SIDE * FREQUENCIES);
  for (let y = 0; y < SIDE; y += 1) {
    for (let u = 0; u < FREQUENCIES; u += 1) {
      let sum = 0;
      for (let x = 0; x < SIDE; x += 1) sum += (grey[y * SIDE + x] as number) * (COSINES[u * SIDE + x] as number);
      rows[y * FREQUENCIES + u] = sum;
    }
  }
  const coefficients = new Float64Array(FREQUENCIES * FREQUENCIES);
  for (let v = 0; v < FREQUENCIES; v += 1) {
    for (let u = 0; u < FREQUENCIES; u += 1) {
      let sum = 0;
      for (let y = 0; y < SIDE; y += 1) sum += (rows[y * FREQUENCIES + u] as number) * (COSINES[v * SIDE + y] as number);
      coefficients[v * FREQUENCIES + u] = sum;
    }
  }
  const sorted = Float64Array.from(coefficients).sort();
  const median = ((sorted[31] as number) + (sorted[32] as number)) / 2;
  let hex = '';
  for (let nibble = 0; nibble < 16; nibble += 1) {
    let value = 0;
    for (let bit = 0; bit < 4; bit += 1) value = (value << 1) | ((coefficients[nibble * 4 + bit] as number) > median ? 1 : 0);
    hex += value.toString(16);
  }
  return hex;
}

/**
 * The picture in grey (Rec. 601 luma; transparent pixels as white), each of 32 × 32 cells the
 * mean of the pixels it covers: one pass over the pixels, and a cell of a picture smaller than 32
 * pixels on a side repeats its nearest pixels.
 */
function greyThumbnail({ width, height, data }: OrientedPixels): Float64Array {
  const columns = cellRanges(width);
  const rows = cellRanges(height);
  const cells = new Float64Array(SIDE * SIDE);
  const line = new Float64Array(SIDE);
  for (let cellY = 0; cellY < SIDE; cellY += 1) {
    line.fill(0);
    const [top, bottom] = rows[cellY] as [number, number];
    for (let y = top; y < bottom; y += 1) {
      for (let cellX = 0; cellX < SIDE; cellX += 1) {
        const [left, right] = columns[cellX] as [number, number];
        let sum = 0;
        for (let at = (y * width + left) * 4, end = (y * width + right) * 4; at < end; at += 4) {
          const alpha = data[at + 3] as number;
          const luma = 0.299 * (data[at] as number) + 0.587 * (data[at + 1] as number) + 0.114 * (data[at + 2] as number);
          sum += alpha === 255 ? luma : (luma * alpha + 255 * (255 - alpha)) / 255;
        }
        line[cellX] = (line[cellX] as number) + sum;
      }
    }
    for (let cellX = 0; cellX < SIDE; cellX += 1) {
      const [left, right] = columns[cellX] as [number, number];
      cells[cellY * SIDE + cellX] = (line[cellX] as number) / ((right - left) * (bottom - top));
    }
  }
  return cells;
}

/** The pixels [start, end) each of the 32 cells covers along a side of `length` pixels; never empty. */
function cellRanges(length: number): Array<[number, number]> {
  return Array.from({ length: SIDE }, (_, cell) => {
    const start = Math.min(length - 1, Math.floor((cell * length) / SIDE));
    return [start, Math.max(start + 1, Math.floor(((cell + 1) * length) / SIDE))];
  });
}

/** The 32 × 32 cells turned as EXIF orientation `orientation` says the picture is shown. */
function upright(cells: Float64Array, orientation: number): Float64Array {
  if (orientation === 1) return cells;
  const last = SIDE - 1;
  const turned = new Float64Array(SIDE * SIDE);
  for (let y = 0; y < SIDE; y += 1) {
    for (let x = 0; x < SIDE; x += 1) {
      const [shownX, shownY] = ({
        2: [last - x, y],
        3: [last - x, last - y],
        4: [x, last - y],
        5: [y, x],
        6: [last - y, x],
        7: [last - y, last - x],
        8: [y, last - x],
      } as Record<number, [number, number]>)[orientation] ?? [x, y];
      turned[shownY * SIDE + shownX] = cells[y * SIDE + x] as number;
    }
  }
  return turned;
}

/** How many of the 64 bits two hashes differ in. */
export function hammingDistance(a: string, b: string): number {
  let x = BigInt(`0x${a}`) ^ BigInt(`0x${b}`);
  let distance = 0;
  while (x > 0n) {
    x &= x - 1n;
    distance += 1;
  }
  return distance;
}

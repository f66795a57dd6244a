/**
 * Light and sharpness of a face, measured on its pixels (RGBA, row by row): what a camera in
 * poor light or a shaking hand spoils while a detector still finds the face.
 */

/** Rec. 601 luma of one pixel, 0 (black) to 255 (white). */
const luma = (rgba: ArrayLike<number>, at: number): number =>
  0.299 * (rgba[at] as number) + 0.587 * (rgba[at + 1] as number) + 0.114 * (rgba[at + 2] as number);

/** Mean luma of the pixels, 0–255. */
export function meanLuminance(rgba: ArrayLike<number>): number {
  const pixels = Math.floor(rgba.length / 4);
  let sum = 0;
  for (let pixel = 0; pixel < pixels; pixel += 1) sum += luma(rgba, pixel * 4);
  return pixels === 0 ? 0 : sum / pixels;
}

/**
 * Variance of the Laplacian of the luma (the 4-neighbour kernel), a standard focus measure: a
 * sharp face has strong edges (high variance), a blurred one has none. Compare values only
 * between crops of the same size: scaling a picture changes its edges.
 */
export function sharpness(rgba: ArrayLike<number>, width: number, height: number): number {
  if (width < 3 || height < 3) return 0;
  const gray = new Float32Array(width * height);
  for (let pixel = 0; pixel < gray.length; pixel += 1) gray[pixel] = luma(rgba, pixel * 4);
  let sum = 0;
  let squares = 0;
  let count = 0;
  for (let y = 1; y < height - 1; y += 1) {
    for (let x = 1; x < width - 1; x += 1) {
      const at = y * width + x;
      const value = (gray[at - 1] as number) + (gray[at + 1] as number) + (gray[at - width] as number) + (gray[at + width] as number) - 4 * (gray[at] as number);
      sum += value;
      squares += value * value;
      count += 1;
    }
  }
  const mean = sum / count;
  return squares / count - mean * mean;
}

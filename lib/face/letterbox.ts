/**
 * The detector sees every picture padded to a square ("letterboxed") and scaled to its input
 * size: stretching a 16:9 frame into a square distorts faces and invents some, and cropping it
 * loses faces at the sides. This module maps between the picture and that square, and fills it.
 */
import { INPUT_SIZE, type Detection } from './types.ts';

/** Where a picture of `width` × `height` lies in the detector's square: square = picture × scale + offset. */
export interface Letterbox {
  width: number;
  height: number;
  scale: number;
  offsetX: number;
  offsetY: number;
}

export function letterboxOf(width: number, height: number, size = INPUT_SIZE): Letterbox {
  const scale = size / Math.max(width, height);
  return { width, height, scale, offsetX: (size - width * scale) / 2, offsetY: (size - height * scale) / 2 };
}

/** A detection in the picture's own pixels. */
export function toPicture(face: Detection, box: Letterbox): Detection {
  const x = (value: number) => (value - box.offsetX) / box.scale;
  const y = (value: number) => (value - box.offsetY) / box.scale;
  return {
    score: face.score,
    left: x(face.left),
    top: y(face.top),
    right: x(face.right),
    bottom: y(face.bottom),
    landmarks: face.landmarks.map((point) => ({ x: x(point.x), y: y(point.y) })),
  };
}

/** RGBA pixels (4 bytes each, row by row) as the detector's input: RGB scaled to [-1, 1]. */
export function detectorInput(rgba: ArrayLike<number>, size = INPUT_SIZE): Float32Array {
  const input = new Float32Array(size * size * 3);
  for (let pixel = 0, at = 0; pixel < size * size; pixel += 1, at += 4) {
    input[3 * pixel] = (rgba[at] as number) / 127.5 - 1;
    input[3 * pixel + 1] = (rgba[at + 1] as number) / 127.5 - 1;
    input[3 * pixel + 2] = (rgba[at + 2] as number) / 127.5 - 1;
  }
  return input;
}

/** Decoded pixels, RGBA, row by row, as stored in the file (before any EXIF orientation). */
export interface RgbaImage {
  width: number;
  height: number;
  data: ArrayLike<number>;
}

/** The picture's size once its EXIF orientation (1–8) is applied: 5 to 8 turn it a quarter. */
export function orientedSize(image: { width: number; height: number }, orientation: number): { width: number; height: number } {
  return orientation >= 5 && orientation <= 8 ? { width: image.height, height: image.width } : { width: image.width, height: image.height };
}

/**
 * Where the upright picture's pixel (x, y) is stored, as a linear function of x and y per EXIF
 * orientation: stored index = origin + x * stepX + y * stepY (in pixels). 2 and 4 mirror, 3 turns
 * a half, 6 a quarter clockwise, 8 a quarter anticlockwise, 5 and 7 transpose.
 */
function storedLayout(width: number, height: number, orientation: number): { origin: number; stepX: number; stepY: number } {
  const at = (x: number, y: number) => y * width + x;
  switch (orientation) {
    case 2: return { origin: at(width - 1, 0), stepX: -1, stepY: width };
    case 3: return { origin: at(width - 1, height - 1), stepX: -1, stepY: -width };
    case 4: return { origin: at(0, height - 1), stepX: 1, stepY: -width };
    case 5: return { origin: at(0, 0), stepX: width, stepY: 1 };
    case 6: return { origin: at(0, height - 1), stepX: -width, stepY: 1 };
    case 7: return { origin: at(width - 1, height - 1), stepX: -width, stepY: -1 };
    case 8: return { origin: at(width - 1, 0), stepX: width, stepY: -1 };
    default: return { origin: 0, stepX: 1, stepY: width };
  }
}

/** For each of `count` square pixels from `offset` on, the picture's pixels [start, end) it covers (at least one). */
function spans(count: number, offset: number, step: number, limit: number): Int32Array {
  const bounds = new Int32Array(count * 2);
  for (let index = 0; index < count; index += 1) {
    const from = (index - offset) * step;
    let start = Math.max(0, Math.ceil(from - 0.5));
    let end = Math.min(limit, Math.ceil(from + step - 0.5));
    if (end <= start) {
      start = Math.min(limit - 1, Math.max(0, Math.floor(from + step / 2)));
      end = start + 1;
    }
    bounds[2 * index] = start;
    bounds[2 * index + 1] = end;
  }
  return bounds;
}

/**
 * The upright picture letterboxed into the detector's square (black around it), as RGBA: each
 * square pixel is the mean of the picture's pixels it covers, or the nearest one when the
 * picture is smaller than the square. Written by hand: the browser does this with a canvas, and
 * Node has no canvas without a native library; the image libraries that resize in pure
 * JavaScript are whole image editors.
 */
export function letterboxPixels(image: RgbaImage, orientation = 1, size = INPUT_SIZE): { rgba: Uint8ClampedArray; box: Letterbox } {
  const upright = orientedSize(image, orientation);
  const box = letterboxOf(upright.width, upright.height, size);
  const rgba = new Uint8ClampedArray(size * size * 4);
  for (let at = 3; at < rgba.length; at += 4) rgba[at] = 255;
  const step = 1 / box.scale;
  const first = { column: Math.max(0, Math.floor(box.offsetX)), row: Math.max(0, Math.floor(box.offsetY)) };
  const last = { column: Math.min(size, Math.ceil(box.offsetX + upright.width * box.scale)), row: Math.min(size, Math.ceil(box.offsetY + upright.height * box.scale)) };
  const columns = spans(last.column - first.column, box.offsetX - first.column, step, upright.width);
  const rows = spans(last.row - first.row, box.offsetY - first.row, step, upright.height);
  const { origin, stepX, stepY } = storedLayout(image.width, image.height, orientation);
  const { data } = image;
  for (let row = 0; row < rows.length / 2; row += 1) {
    const top = rows[2 * row] as number;
    const bottom = rows[2 * row + 1] as number;
    for (let column = 0; column < columns.length / 2; column += 1) {
      const left = columns[2 * column] as number;
      const right = columns[2 * column + 1] as number;
      let red = 0;
      let green = 0;
      let blue = 0;
      for (let y = top; y < bottom; y += 1) {
        let pixel = origin + left * stepX + y * stepY;
        for (let x = left; x < right; x += 1, pixel += stepX) {
          red += data[4 * pixel] as number;
          green += data[4 * pixel + 1] as number;
          blue += data[4 * pixel + 2] as number;
        }
      }
      const count = (bottom - top) * (right - left);
      const at = ((first.row + row) * size + first.column + column) * 4;
      rgba[at] = red / count;
      rgba[at + 1] = green / count;
      rgba[at + 2] = blue / count;
    }
  }
  return { rgba, box };
}

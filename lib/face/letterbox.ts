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
 * The stored pixel shown at (x, y) of the upright picture, for each EXIF orientation: 2 and 4
 * mirror, 3 turns a half, 6 a quarter clockwise, 8 a quarter anticlockwise, 5 and 7 transpose.
 */
function storedPixel(x: number, y: number, width: number, height: number, orientation: number): [number, number] {
  switch (orientation) {
    case 2: return [width - 1 - x, y];
    case 3: return [width - 1 - x, height - 1 - y];
    case 4: return [x, height - 1 - y];
    case 5: return [y, x];
    case 6: return [y, height - 1 - x];
    case 7: return [width - 1 - y, height - 1 - x];
    case 8: return [width - 1 - y, x];
    default: return [x, y];
  }
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
  const step = 1 / box.scale;
  for (let row = 0; row < size; row += 1) {
    const top = (row - box.offsetY) * step;
    const bottom = top + step;
    for (let column = 0; column < size; column += 1) {
      const at = (row * size + column) * 4;
      rgba[at + 3] = 255;
      const left = (column - box.offsetX) * step;
      const right = left + step;
      if (right <= 0 || bottom <= 0 || left >= upright.width || top >= upright.height) continue;
      let red = 0;
      let green = 0;
      let blue = 0;
      let count = 0;
      const add = (x: number, y: number) => {
        const [storedX, storedY] = storedPixel(x, y, image.width, image.height, orientation);
        const from = (storedY * image.width + storedX) * 4;
        red += image.data[from] as number;
        green += image.data[from + 1] as number;
        blue += image.data[from + 2] as number;
        count += 1;
      };
      for (let y = Math.max(0, Math.ceil(top - 0.5)); y < Math.min(upright.height, Math.ceil(bottom - 0.5)); y += 1) {
        for (let x = Math.max(0, Math.ceil(left - 0.5)); x < Math.min(upright.width, Math.ceil(right - 0.5)); x += 1) add(x, y);
      }
      if (count === 0) add(Math.min(upright.width - 1, Math.max(0, Math.floor((left + right) / 2))), Math.min(upright.height - 1, Math.max(0, Math.floor((top + bottom) / 2))));
      rgba[at] = red / count;
      rgba[at + 1] = green / count;
      rgba[at + 2] = blue / count;
    }
  }
  return { rgba, box };
}

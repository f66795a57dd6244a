import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { RgbaImage } from '../../lib/face/letterbox.ts';

/**
 * Pictures made from the fixture photographs for the face tests: the same face smaller, larger,
 * elsewhere in the frame, in poor light or out of focus. Made at run time from the committed
 * photographs, so that the traits are exact and the repository holds no derived files.
 */
export interface Picture {
  width: number;
  height: number;
  data: Uint8Array;
}

export function decodeJpeg(bytes: Uint8Array): Picture {
  const { width, height, data } = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
  return { width, height, data };
}

export function decodePng(bytes: Uint8Array): Picture {
  const { width, height, data } = PNG.sync.read(Buffer.from(bytes));
  return { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

export function encodeJpeg(picture: Picture, quality = 90): Buffer {
  return jpeg.encode({ width: picture.width, height: picture.height, data: picture.data }, quality).data;
}

const blank = (width: number, height: number, gray: number): Picture => {
  const data = new Uint8Array(width * height * 4).fill(gray);
  for (let at = 3; at < data.length; at += 4) data[at] = 255;
  return { width, height, data };
};

/**
 * `picture` scaled by `scale` (nearest pixel) onto a `width` × `height` gray canvas, its centre at
 * (`centreX`, `centreY`) as shares of the canvas (0.5, 0.5 by default); what falls outside is cut.
 */
export function placed(picture: RgbaImage, canvas: { width: number; height: number; scale?: number; centreX?: number; centreY?: number }): Picture {
  const { width, height, scale = 1, centreX = 0.5, centreY = 0.5 } = canvas;
  const out = blank(width, height, 128);
  const left = Math.round(centreX * width - (picture.width * scale) / 2);
  const top = Math.round(centreY * height - (picture.height * scale) / 2);
  for (let y = 0; y < height; y += 1) {
    const sourceY = Math.floor((y - top) / scale);
    if (sourceY < 0 || sourceY >= picture.height) continue;
    for (let x = 0; x < width; x += 1) {
      const sourceX = Math.floor((x - left) / scale);
      if (sourceX < 0 || sourceX >= picture.width) continue;
      const from = (sourceY * picture.width + sourceX) * 4;
      const to = (y * width + x) * 4;
      for (let channel = 0; channel < 3; channel += 1) out.data[to + channel] = picture.data[from + channel] as number;
    }
  }
  return out;
}

/** `picture` without the given shares of its width and height at the left, the top, the right and the bottom. */
export function cropped(picture: Picture, left: number, top: number, right: number, bottom: number): Picture {
  const x0 = Math.round(picture.width * left);
  const y0 = Math.round(picture.height * top);
  const width = picture.width - x0 - Math.round(picture.width * right);
  const height = picture.height - y0 - Math.round(picture.height * bottom);
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y += 1) {
    const from = ((y + y0) * picture.width + x0) * 4;
    data.set(picture.data.subarray(from, from + width * 4), y * width * 4);
  }
  return { width, height, data };
}

/** Every colour scaled by `factor` (0.2: a dim room). */
export function darkened(picture: Picture, factor: number): Picture {
  const data = picture.data.map((value, at) => (at % 4 === 3 ? value : Math.round(value * factor)));
  return { ...picture, data };
}

/** A box blur of `radius` pixels, as a camera out of focus or a moving hand gives. */
export function blurred(picture: Picture, radius: number): Picture {
  const { width, height } = picture;
  const pass = (source: Uint8Array, dx: number, dy: number): Uint8Array => {
    const out = new Uint8Array(source.length);
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < width; x += 1) {
        const to = (y * width + x) * 4;
        for (let channel = 0; channel < 3; channel += 1) {
          let sum = 0;
          for (let step = -radius; step <= radius; step += 1) {
            const sx = Math.min(width - 1, Math.max(0, x + step * dx));
            const sy = Math.min(height - 1, Math.max(0, y + step * dy));
            sum += source[(sy * width + sx) * 4 + channel] as number;
          }
          out[to + channel] = Math.round(sum / (2 * radius + 1));
        }
        out[to + 3] = 255;
      }
    }
    return out;
  };
  return { width, height, data: pass(pass(picture.data, 1, 0), 0, 1) };
}

import { writeFileSync } from 'node:fs';
import { decodeJpeg, type Picture } from './pictures.ts';

/**
 * Writes a YUV4MPEG2 (4:2:0) video of `frames` identical frames of `photo` (a JPEG's bytes, or
 * pixels), for Chromium's `--use-file-for-fake-video-capture`: the fake camera then streams the
 * picture at its own size, as stored (EXIF orientation is not applied, as a camera sensor would
 * not). Odd widths and heights are cropped by one pixel (4:2:0 halves both).
 */
export function writeY4m(photo: Uint8Array | Picture, path: string, frames = 3): { width: number; height: number } {
  const decoded = photo instanceof Uint8Array ? decodeJpeg(photo) : photo;
  const width = decoded.width & ~1;
  const height = decoded.height & ~1;
  const rgba = decoded.data;
  const luma = new Uint8Array(width * height);
  const chromaSize = (width / 2) * (height / 2);
  const cb = new Uint8Array(chromaSize);
  const cr = new Uint8Array(chromaSize);
  // BT.601 studio range, which Chromium's Y4M reader expects.
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const at = (y * decoded.width + x) * 4;
      const r = rgba[at] ?? 0;
      const g = rgba[at + 1] ?? 0;
      const b = rgba[at + 2] ?? 0;
      luma[y * width + x] = Math.round(16 + 0.257 * r + 0.504 * g + 0.098 * b);
      if (x % 2 === 0 && y % 2 === 0) {
        const c = (y / 2) * (width / 2) + x / 2;
        cb[c] = Math.round(128 - 0.148 * r - 0.291 * g + 0.439 * b);
        cr[c] = Math.round(128 + 0.439 * r - 0.368 * g - 0.071 * b);
      }
    }
  }
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F30:1 Ip A1:1 C420jpeg\n`, 'ascii');
  const frame = Buffer.concat([Buffer.from('FRAME\n', 'ascii'), luma, cb, cr]);
  writeFileSync(path, Buffer.concat([header, ...Array.from({ length: frames }, () => frame)]));
  return { width, height };
}

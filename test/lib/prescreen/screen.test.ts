import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { prepareImageBytes } from '../../../lib/check/image.ts';
import { checkPixels } from '../../../lib/check/pixels.ts';
import { createFaceScreen, decodePixels, type FaceScreen } from '../../../lib/prescreen/screen.ts';
import { decodeJpeg, encodeJpeg, placed } from '../../support/pictures.ts';

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/images/${name}`, import.meta.url));
/** The frontal face photographed at 853×480, pasted unscaled into a square gray canvas of `side` pixels. */
const faceInCanvas = (side: number) => encodeJpeg(placed(decodeJpeg(fixture('face-480p.jpg')), { width: side, height: side }));

/** The photo screened as a check screens it: its header proven, its pixels decoded by the package's decoder. */
async function screened(photo: Buffer, screen: FaceScreen = faces) {
  const prepared = await prepareImageBytes(photo, 4 * 1024 * 1024);
  if (!prepared.ok) throw new Error(prepared.message);
  const pixels = await checkPixels(prepared.image, decodePixels)();
  if (!pixels.ok) throw new Error(pixels.reason);
  return screen.screen(pixels.pixels);
}

let faces: FaceScreen;
let alongside: FaceScreen;

beforeAll(async () => {
  // Two at once, as two functions of one `npm start` process start theirs: the WebAssembly backend starts once, for both.
  [faces, alongside] = await Promise.all([createFaceScreen(), createFaceScreen()]);
});

it('starts twice at once in one process, and both screens work', async () => {
  const results = await Promise.all([faces, alongside].map((screen) => screened(fixture('two-faces.jpg'), screen)));
  expect(results.map((result) => result.finding)).toEqual(['several-faces', 'several-faces']);
});

describe('the pre-screen on real photographs (BlazeFace, WebAssembly backend, from the packaged files)', () => {
  it.each([
    ['face-480p.jpg', 'pass', 1],
    ['face.png', 'pass', 1],
    ['live-selfie-exif-rotated.jpg', 'pass', 1],
    // A printed photograph of a face is a face: telling it from a live one is Deepvue's job.
    ['spoof-printed-photo.jpg', 'pass', 1],
    ['two-faces.jpg', 'several-faces', 2],
    ['no-face-diagram.jpg', 'no-face', 0],
    ['partial-face.jpg', 'cut-off', 1],
  ] as const)('%s → %s', async (name, finding, count) => {
    const result = await screened(fixture(name));
    expect({ finding: result.finding, faces: result.faces }).toEqual({ finding, faces: count });
  });

  it('finds a small face but calls it too small: the same face in a canvas where it spans 8 % of the short side', async () => {
    const result = await screened(faceInCanvas(1400));
    expect(result).toMatchObject({ finding: 'too-small', faces: 1 });
    expect(result.faceSize).toBeGreaterThan(0.06);
    expect(result.faceSize).toBeLessThan(0.1);
    // 12 % of the short side passes.
    expect((await screened(faceInCanvas(1000))).finding).toBe('pass');
  });

  it('applies the EXIF orientation: the selfie stored sideways is upright, its face where a viewer sees it', async () => {
    const selfie = await screened(fixture('live-selfie-exif-rotated.jpg'));
    expect(selfie.finding).toBe('pass');
    // Stored 640×480 with orientation 6: shown 480×640, the face's box is measured against the 480-pixel side.
    expect(selfie.faceSize).toBeGreaterThan(0.35);
  });
});

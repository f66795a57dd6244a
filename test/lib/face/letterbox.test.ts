import { describe, expect, it } from 'vitest';
import { letterboxOf, letterboxPixels, toPicture } from '../../../lib/face/letterbox.ts';
import { faceSize, isCutOff, isSideways } from '../../../lib/face/rules.ts';
import type { Detection } from '../../../lib/face/types.ts';

const RED = [255, 0, 0];
const BLUE = [0, 0, 255];

/** A stored picture 4 wide and 2 high: its left half red, its right half blue. */
const halves = {
  width: 4,
  height: 2,
  data: Uint8Array.from({ length: 4 * 2 * 4 }, (_, at) => {
    const x = Math.floor(at / 4) % 4;
    return at % 4 === 3 ? 255 : ((x < 2 ? RED : BLUE)[at % 4] as number);
  }),
};
const pixel = (rgba: Uint8ClampedArray, size: number, x: number, y: number) => [...rgba.subarray((y * size + x) * 4, (y * size + x) * 4 + 3)];

describe('letterboxing a picture for the detector', () => {
  it.each([
    [1, 'red left, blue right', [RED, BLUE], 'horizontal'],
    [2, 'mirrored: blue left', [BLUE, RED], 'horizontal'],
    [3, 'half a turn: blue left', [BLUE, RED], 'horizontal'],
    [6, 'a quarter clockwise: red on top', [RED, BLUE], 'vertical'],
    [8, 'a quarter anticlockwise: blue on top', [BLUE, RED], 'vertical'],
  ] as const)('applies EXIF orientation %i (%s)', (orientation, _, [first, second], layout) => {
    const { rgba, box } = letterboxPixels(halves, orientation, 4);
    if (layout === 'horizontal') {
      expect(box).toMatchObject({ width: 4, height: 2, scale: 1, offsetX: 0, offsetY: 1 });
      expect([pixel(rgba, 4, 0, 1), pixel(rgba, 4, 3, 2)]).toEqual([first, second]);
      // Black bands above and below.
      expect(pixel(rgba, 4, 0, 0)).toEqual([0, 0, 0]);
    } else {
      expect(box).toMatchObject({ width: 2, height: 4, scale: 1, offsetX: 1, offsetY: 0 });
      expect([pixel(rgba, 4, 1, 0), pixel(rgba, 4, 2, 3)]).toEqual([first, second]);
      expect(pixel(rgba, 4, 0, 0)).toEqual([0, 0, 0]);
    }
  });

  it('averages the pixels a square pixel covers when it shrinks the picture', () => {
    const { rgba } = letterboxPixels(halves, 1, 2);
    // Each square pixel covers two red or two blue pixels of one row: no mixing across the halves.
    expect([pixel(rgba, 2, 0, 1), pixel(rgba, 2, 1, 1)]).toEqual([RED, BLUE]);
  });

  it('maps detections back to the picture', () => {
    const box = letterboxOf(800, 400, 256);
    const face: Detection = { score: 0.9, left: 96, top: 96, right: 160, bottom: 160, landmarks: [{ x: 128, y: 128 }] };
    expect(toPicture(face, box)).toEqual({ score: 0.9, left: 300, top: 100, right: 500, bottom: 300, landmarks: [{ x: 400, y: 200 }] });
  });
});

describe('what a face box says', () => {
  const picture = { width: 400, height: 300 };
  const face = (left: number, top: number, side: number, mouthAngle = 90): Detection => {
    const radians = (mouthAngle * Math.PI) / 180;
    const eyes = { x: left + side / 2, y: top + side / 3 };
    return {
      score: 0.9,
      left,
      top,
      right: left + side,
      bottom: top + side,
      landmarks: [
        { x: eyes.x - 10, y: eyes.y },
        { x: eyes.x + 10, y: eyes.y },
        { x: eyes.x, y: eyes.y + 10 },
        { x: eyes.x + 30 * Math.cos(radians), y: eyes.y + 30 * Math.sin(radians) },
      ],
    };
  };

  it('measures its size against the short side', () => {
    expect(faceSize(face(10, 10, 30), picture)).toBeCloseTo(0.1);
  });

  it('calls it cut off only when more than a tenth of it lies outside', () => {
    expect(isCutOff(face(-2, 10, 100), picture)).toBe(false);
    expect(isCutOff(face(-20, 10, 100), picture)).toBe(true);
    expect(isCutOff(face(100, 220, 100), picture)).toBe(true);
  });

  it('calls it sideways when the eyes-to-mouth line is further than 45° from straight down', () => {
    expect([84, 115, 60].map((angle) => isSideways(face(10, 10, 90, angle)))).toEqual([false, false, false]);
    expect([2, 29, 180, -90].map((angle) => isSideways(face(10, 10, 90, angle)))).toEqual([true, true, true, true]);
  });
});

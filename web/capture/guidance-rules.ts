/**
 * What the capture page tells the user about the camera's picture, decided from the faces the
 * detector found (in the frame's pixels), the part of the frame the page shows, and light and
 * sharpness measured on the face. The first problem found is the one to fix.
 */
import type { Box, Detection } from '../../lib/face/types.ts';
import { faceSize, isCutOff, isSideways, type PictureSize } from '../../lib/face/rules.ts';

export type GuidanceProblem = 'no-face' | 'several-faces' | 'cut-off' | 'sideways' | 'too-far' | 'too-close' | 'off-centre' | 'too-dark' | 'blurred';

/** A face smaller than this share of the frame's short side is too far for a good check; larger than the other, too close. */
export const FACE_SIZE = { min: 0.2, max: 0.65 };
/** Mean luma (0–255) below which a face (or, with no face found, the whole frame) is too dark. */
export const MIN_LUMINANCE = 60;
/** Laplacian variance of the face (see faceQuality) below which it is blurred. */
export const MIN_SHARPNESS = 150;
/** The oval drawn over the preview, as shares of the shown area (index.html draws the same). */
export const OVAL = { centreX: 0.5, centreY: 0.47, radiusX: 0.31, radiusY: 0.36 };

export interface FaceQuality {
  luminance: number;
  /** Laplacian variance of the face scaled to a fixed size, divided by (luminance / 128)², so that dim light alone does not read as blur. */
  sharpness: number;
}

/** Whether the point lies inside the oval of the shown area `view` (both in frame pixels). */
function insideOval(x: number, y: number, view: Box): boolean {
  const width = view.right - view.left;
  const height = view.bottom - view.top;
  const dx = ((x - view.left) / width - OVAL.centreX) / OVAL.radiusX;
  const dy = ((y - view.top) / height - OVAL.centreY) / OVAL.radiusY;
  return dx * dx + dy * dy <= 1;
}

/**
 * The problem to tell the user about, or undefined when the picture is good to take.
 * `frameLuminance` speaks when no face is found: in the dark, light is what to fix first.
 */
export function guidanceProblem(
  faces: Detection[],
  frame: PictureSize,
  view: Box,
  frameLuminance: number,
  quality: (face: Detection) => FaceQuality,
): GuidanceProblem | undefined {
  const [face] = faces;
  if (face === undefined) return frameLuminance < MIN_LUMINANCE ? 'too-dark' : 'no-face';
  if (faces.length > 1) return 'several-faces';
  if (isCutOff(face, frame)) return 'cut-off';
  if (isSideways(face)) return 'sideways';
  const size = faceSize(face, frame);
  if (size < FACE_SIZE.min) return 'too-far';
  if (size > FACE_SIZE.max) return 'too-close';
  if (!insideOval((face.left + face.right) / 2, (face.top + face.bottom) / 2, view)) return 'off-centre';
  const { luminance, sharpness } = quality(face);
  if (luminance < MIN_LUMINANCE) return 'too-dark';
  if (sharpness < MIN_SHARPNESS) return 'blurred';
  return undefined;
}

/** The part of a `frame` a box of `shown` proportions displays with `object-fit: cover` (centred). */
export function coveredView(frame: PictureSize, shown: PictureSize): Box {
  const scale = Math.max(shown.width / frame.width, shown.height / frame.height);
  const width = shown.width / scale;
  const height = shown.height / scale;
  return { left: (frame.width - width) / 2, top: (frame.height - height) / 2, right: (frame.width + width) / 2, bottom: (frame.height + height) / 2 };
}

/**
 * What a face's box and landmarks say about a picture, the same for the capture page's guidance
 * and the server's pre-screen. The thresholds were tried on real photos (test/fixtures/images):
 * BlazeFace scores a real face above 0.9 and finds faces down to a box of about 6 % of the
 * picture's short side.
 */
import { LANDMARKS, type Box, type Detection } from './types.ts';

/** A face counts from this detector score on; below it, shadows and patterns pass for faces. */
export const MIN_FACE_SCORE = 0.5;
/** More than this share of the box beyond the picture's edge: the face is cut off. */
const MAX_OUTSIDE_SHARE = 0.1;
/** Eyes-to-mouth further than this from straight down: the face (or the phone) is sideways. */
const MAX_TILT_DEGREES = 45;

export interface PictureSize {
  width: number;
  height: number;
}

/** The box's longest side as a share of the picture's short side. */
export function faceSize(face: Box, picture: PictureSize): number {
  return Math.max(face.right - face.left, face.bottom - face.top) / Math.min(picture.width, picture.height);
}

/** Whether more of the box than the tolerance lies beyond an edge of the picture. */
export function isCutOff(face: Box, picture: PictureSize): boolean {
  const width = face.right - face.left;
  const height = face.bottom - face.top;
  const outside = Math.max(-face.left / width, (face.right - picture.width) / width, -face.top / height, (face.bottom - picture.height) / height);
  return outside > MAX_OUTSIDE_SHARE;
}

/** Degrees between the eyes-to-mouth direction and straight down the picture: 0 upright, 90 sideways, 180 upside down. */
export function tilt(face: Detection): number {
  const { rightEye, leftEye, mouth } = LANDMARKS;
  const [right, left, lips] = [face.landmarks[rightEye], face.landmarks[leftEye], face.landmarks[mouth]];
  if (right === undefined || left === undefined || lips === undefined) return 0;
  const degrees = (Math.atan2(lips.y - (right.y + left.y) / 2, lips.x - (right.x + left.x) / 2) * 180) / Math.PI;
  return Math.abs(degrees - 90) > 180 ? 360 - Math.abs(degrees - 90) : Math.abs(degrees - 90);
}

export const isSideways = (face: Detection): boolean => tilt(face) > MAX_TILT_DEGREES;

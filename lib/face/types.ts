/**
 * What face detection finds, in plain values: the capture page's own script reads these without
 * loading TensorFlow.js (which only its detector worker does).
 */

/** The network's input: a square of this many pixels a side, RGB scaled to [-1, 1]. */
export const INPUT_SIZE = 256;

export interface Point {
  x: number;
  y: number;
}

/** A box in pixels: left and top inclusive, right and bottom where the box ends. */
export interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** One face: its box, how sure the network is (0–1), and its landmarks in MediaPipe's order (see LANDMARKS). */
export interface Detection extends Box {
  score: number;
  landmarks: Point[];
}

/** Indices of the six landmarks BlazeFace places (right and left as the person sees them). */
export const LANDMARKS = { rightEye: 0, leftEye: 1, nose: 2, mouth: 3, rightEar: 4, leftEar: 5 } as const;

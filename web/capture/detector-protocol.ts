import type { Detection } from '../../lib/face/types.ts';

/** The page asks the detector worker to find the faces in a letterboxed frame: INPUT_SIZE² RGBA pixels. */
export interface DetectRequest {
  type: 'detect';
  pixels: ArrayBuffer;
}

/** The worker's answers: ready to detect (once), unable to (once, then silent), or the faces of one frame. */
export type DetectorReply =
  | { type: 'ready' }
  | { type: 'failed'; reason: string }
  | { type: 'faces'; faces: Detection[] };

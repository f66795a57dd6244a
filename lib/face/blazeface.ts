/**
 * Face detection with MediaPipe's BlazeFace ("back", 256×256) as a TensorFlow.js graph model:
 * runs the network, then decodes its 896 anchors into scored boxes with six landmarks each, and
 * keeps the best box of each face (non-maximum suppression, tfjs-core's own).
 *
 * The decoding is written here because nothing packaged does it for this model without bringing
 * a larger library: `@tensorflow-models/blazeface` fetches its weights from the network at run
 * time, and Human bundles its own copy of TensorFlow.js with every other model it runs.
 */
import { kernel_impls, tensor4d, tidy } from '@tensorflow/tfjs-core';
import { GraphModel, type GraphModelJson } from './graph.ts';
import { MIN_FACE_SCORE } from './rules.ts';
import { INPUT_SIZE, type Detection } from './types.ts';

/** The model's outputs: logits and box regressions for the 16×16 grid (2 anchors a cell), then the 8×8 one (6 a cell). */
const OUTPUTS = ['Identity', 'Identity_2', 'Identity_1', 'Identity_3'];
const GRIDS = [
  { stride: 16, perCell: 2 },
  { stride: 32, perCell: 6 },
];
const VALUES_PER_BOX = 16;

/** The anchors' centres in input pixels, in the order the model's outputs list them. */
function anchorCentres(): Float32Array {
  const centres: number[] = [];
  for (const { stride, perCell } of GRIDS) {
    const cells = INPUT_SIZE / stride;
    for (let row = 0; row < cells; row += 1) {
      for (let column = 0; column < cells; column += 1) {
        for (let n = 0; n < perCell; n += 1) centres.push((column + 0.5) * stride, (row + 0.5) * stride);
      }
    }
  }
  return Float32Array.from(centres);
}

const sigmoid = (logit: number): number => 1 / (1 + Math.exp(-Math.max(-80, Math.min(80, logit))));

export interface DetectOptions {
  /** A face counts from this score on. */
  minScore?: number;
  /** Boxes overlapping a better one by more than this (intersection over union) are the same face. */
  maxOverlap?: number;
  maxFaces?: number;
}

/**
 * @example
 * const detector = FaceDetector.load(modelJson, weights);
 * const faces = detector.detect(normalizedRgb); // boxes in input pixels (0–256)
 */
export class FaceDetector {
  readonly #graph: GraphModel;
  readonly #anchors = anchorCentres();

  private constructor(graph: GraphModel) {
    this.#graph = graph;
  }

  /**
   * Loads the model and runs it once on a blank input: the first run compiles and sizes
   * everything (half a second and more), a cost for loading to pay, not the first picture.
   */
  static load(model: GraphModelJson, weights: ArrayBuffer): FaceDetector {
    const detector = new FaceDetector(GraphModel.load(model, weights));
    detector.detect(new Float32Array(INPUT_SIZE * INPUT_SIZE * 3));
    return detector;
  }

  /** The faces in `input`: INPUT_SIZE² RGB pixels scaled to [-1, 1], row by row. */
  detect(input: Float32Array, options: DetectOptions = {}): Detection[] {
    const { minScore = MIN_FACE_SCORE, maxOverlap = 0.3, maxFaces = 10 } = options;
    const raw = tidy(() => this.#graph.run({ input: tensor4d(input, [1, INPUT_SIZE, INPUT_SIZE, 3]) }, OUTPUTS).map((output) => output.dataSync() as Float32Array));
    const [logits16, boxes16, logits8, boxes8] = raw as [Float32Array, Float32Array, Float32Array, Float32Array];
    const logits = new Float32Array([...logits16, ...logits8]);
    const regressions = new Float32Array([...boxes16, ...boxes8]);
    if (logits.length * 2 !== this.#anchors.length || regressions.length !== logits.length * VALUES_PER_BOX) {
      throw new Error('the face model does not have the outputs of BlazeFace (896 anchors)');
    }

    const candidates: number[] = [];
    for (let index = 0; index < logits.length; index += 1) if (sigmoid(logits[index] as number) >= minScore) candidates.push(index);
    const scores = Float32Array.from(candidates, (index) => sigmoid(logits[index] as number));
    const detections = candidates.map((index, at) => this.#decode(index, regressions, scores[at] as number));
    // tfjs-core's NMS takes [top, left, bottom, right] per box.
    const corners = Float32Array.from(detections.flatMap((face) => [face.top, face.left, face.bottom, face.right]));
    const { selectedIndices } = kernel_impls.nonMaxSuppressionV3Impl(corners, scores, maxFaces, maxOverlap, minScore);
    return selectedIndices.map((index) => detections[index] as Detection);
  }

  dispose(): void {
    this.#graph.dispose();
  }

  /** Box centre and landmarks are offsets from the anchor's centre; width and height are in input pixels. */
  #decode(index: number, regressions: Float32Array, score: number): Detection {
    const value = (offset: number) => regressions[index * VALUES_PER_BOX + offset] as number;
    const anchorX = this.#anchors[2 * index] as number;
    const anchorY = this.#anchors[2 * index + 1] as number;
    const centreX = anchorX + value(0);
    const centreY = anchorY + value(1);
    const halfWidth = value(2) / 2;
    const halfHeight = value(3) / 2;
    const landmarks = Array.from({ length: 6 }, (_, point) => ({ x: anchorX + value(4 + 2 * point), y: anchorY + value(5 + 2 * point) }));
    return { score, left: centreX - halfWidth, top: centreY - halfHeight, right: centreX + halfWidth, bottom: centreY + halfHeight, landmarks };
  }
}

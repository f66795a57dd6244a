/**
 * Guidance before the shot: a few times a second the camera's frame goes to the face detector
 * worker, and the page says what to fix (no face, several, too far or close, not in the oval or
 * cut off, sideways, too dark, blurred). The photo is offered once nothing is left to fix, and
 * taken by itself after a short stable spell. Without WebAssembly, a worker, or the detector's
 * files, guidance is off and the page works as it did without it.
 */
import { INPUT_SIZE, type Detection } from '../../lib/face/types.ts';
import { letterboxOf, toPicture } from '../../lib/face/letterbox.ts';
import { meanLuminance, sharpness } from '../../lib/face/quality.ts';
import type { DetectorReply } from './detector-protocol.ts';
import { coveredView, guidanceProblem, type FaceQuality, type GuidanceProblem } from './guidance-rules.ts';

/** `starting` while the detector loads; `off` for good once it cannot work; `steady` while a good picture holds; `capture` when it has held long enough. */
export type GuidanceState = 'starting' | 'off' | GuidanceProblem | 'steady' | 'capture';

const CHECK_EVERY_MS = 250;
/** A good picture held this long is taken. */
export const STEADY_FOR_MS = 1200;
/** The detector gets this long to load (a slow connection); then guidance is off. */
const LOAD_TIMEOUT_MS = 20_000;
/** The face is measured for light and sharpness at this size, so that measures compare. */
const QUALITY_SIZE = 96;

function canvas(size: number): CanvasRenderingContext2D | undefined {
  const element = document.createElement('canvas');
  element.width = size;
  element.height = size;
  return element.getContext('2d', { willReadFrequently: true }) ?? undefined;
}

export class Guidance {
  readonly #onState: (state: GuidanceState) => void;
  readonly #workerUrl: () => unknown;
  #worker: Worker | undefined;
  #state: GuidanceState = 'starting';
  #ready = false;
  #video: HTMLVideoElement | undefined;
  #shown: HTMLElement | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #busy = false;
  #steadySince: number | undefined;
  readonly #input = canvas(INPUT_SIZE);
  readonly #face = canvas(QUALITY_SIZE);

  /** `workerUrl`: the detector's script, as a Trusted Types script URL where the browser has them. */
  constructor(workerUrl: () => unknown, onState: (state: GuidanceState) => void) {
    this.#workerUrl = workerUrl;
    this.#onState = onState;
  }

  get state(): GuidanceState {
    return this.#state;
  }

  /** Starts loading the detector (once); says `off` at once where it cannot run. */
  preload(): void {
    if (this.#worker !== undefined || this.#state === 'off') return;
    if (typeof WebAssembly !== 'object' || typeof Worker !== 'function' || this.#input === undefined || this.#face === undefined) return this.#off();
    try {
      this.#worker = new Worker(this.#workerUrl() as string);
    } catch {
      return this.#off();
    }
    const timeout = setTimeout(() => this.#off(), LOAD_TIMEOUT_MS);
    this.#worker.addEventListener('error', () => this.#off());
    this.#worker.addEventListener('message', (event: MessageEvent<DetectorReply>) => {
      const reply = event.data;
      if (reply.type === 'ready') {
        // User Timing marks (no cost worth naming): what npm run bench reads.
        performance.mark('capture:guidance-ready');
        clearTimeout(timeout);
        this.#ready = true;
        this.#schedule(0);
      } else if (reply.type === 'failed') {
        this.#off();
      } else {
        this.#busy = false;
        this.#judge(reply.faces);
      }
    });
  }

  /** Checks `video`'s frames, as shown in `shown` (object-fit: cover), until `pause`. */
  watch(video: HTMLVideoElement, shown: HTMLElement): void {
    this.preload();
    this.#video = video;
    this.#shown = shown;
    this.#steadySince = undefined;
    if (this.#state !== 'off') this.#set('starting');
    this.#schedule(0);
  }

  pause(): void {
    this.#video = undefined;
    clearTimeout(this.#timer);
  }

  #off(): void {
    this.#worker?.terminate();
    this.#worker = undefined;
    this.#ready = false;
    clearTimeout(this.#timer);
    this.#set('off');
  }

  #set(state: GuidanceState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#onState(state);
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    if (this.#video === undefined || !this.#ready) return;
    this.#timer = setTimeout(() => this.#check(), delayMs);
  }

  /** Sends the frame, letterboxed into the detector's square, to the worker. */
  #check(): void {
    const video = this.#video;
    const context = this.#input;
    this.#schedule(CHECK_EVERY_MS);
    if (video === undefined || context === undefined || this.#busy || video.videoWidth === 0) return;
    const box = letterboxOf(video.videoWidth, video.videoHeight);
    context.fillStyle = '#000';
    context.fillRect(0, 0, INPUT_SIZE, INPUT_SIZE);
    context.drawImage(video, box.offsetX, box.offsetY, video.videoWidth * box.scale, video.videoHeight * box.scale);
    const pixels = context.getImageData(0, 0, INPUT_SIZE, INPUT_SIZE).data.buffer;
    performance.mark('capture:face-check');
    this.#busy = true;
    this.#worker?.postMessage({ type: 'detect', pixels }, [pixels]);
  }

  #judge(detected: Detection[]): void {
    const video = this.#video;
    const shown = this.#shown;
    const input = this.#input;
    if (video === undefined || shown === undefined || input === undefined || video.videoWidth === 0) return;
    const frame = { width: video.videoWidth, height: video.videoHeight };
    const box = letterboxOf(frame.width, frame.height);
    const faces = detected.map((face) => toPicture(face, box));
    const view = coveredView(frame, { width: shown.clientWidth || frame.width, height: shown.clientHeight || frame.height });
    const inside = input.getImageData(Math.ceil(box.offsetX), Math.ceil(box.offsetY), Math.floor(frame.width * box.scale), Math.floor(frame.height * box.scale));
    const problem = guidanceProblem(faces, frame, view, meanLuminance(inside.data), (face) => this.#quality(video, face));
    performance.measure('capture:face-check', 'capture:face-check');
    if (problem !== undefined) {
      this.#steadySince = undefined;
      return this.#set(problem);
    }
    const now = performance.now();
    this.#steadySince ??= now;
    this.#set(now - this.#steadySince >= STEADY_FOR_MS ? 'capture' : 'steady');
  }

  /** Light and sharpness of the face, cropped from the full frame (a little beyond its box) and scaled to QUALITY_SIZE. */
  #quality(video: HTMLVideoElement, face: Detection): FaceQuality {
    const context = this.#face as CanvasRenderingContext2D;
    const side = Math.max(face.right - face.left, face.bottom - face.top) * 1.1;
    const left = (face.left + face.right - side) / 2;
    const top = (face.top + face.bottom - side) / 2;
    context.drawImage(video, left, top, side, side, 0, 0, QUALITY_SIZE, QUALITY_SIZE);
    const pixels = context.getImageData(0, 0, QUALITY_SIZE, QUALITY_SIZE).data;
    const luminance = meanLuminance(pixels);
    return { luminance, sharpness: sharpness(pixels, QUALITY_SIZE, QUALITY_SIZE) / Math.max(0.05, (luminance / 128) ** 2) };
  }
}

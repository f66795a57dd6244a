import { Worker } from 'node:worker_threads';
import type { ImageFormat, ImageHeader } from './header.ts';
import type { DecodedPixels } from './pixels.ts';

/**
 * The pixel decoder's thread: decoding a photo takes tens to hundreds of milliseconds of CPU
 * (42 ms for a 100 KiB JPEG, 750 ms for the largest the limits take), and on the check's own
 * thread it would stall everything else that thread does meanwhile, above all sending the image
 * to Deepvue (a body of 100 KiB to 4 MiB goes out over several turns of the event loop) and
 * reading its answer. Here the check's thread only posts the bytes and receives the pixels, both
 * moved, not copied; the decode runs beside it. One thread per decoder module and process.
 */
export const PIXEL_WORKER = 'liveness-relay-pixel-decoder';

export interface DecodeRequest {
  id: number;
  bytes: Uint8Array;
  format: ImageFormat;
  header: ImageHeader;
}

export type DecodeReply = { ready: true } | { id: number; pixels: DecodedPixels } | { id: number; error: string };

interface Waiting {
  resolve(pixels: DecodedPixels): void;
  reject(error: Error): void;
}

/** A typed array's buffer to move to another thread, when it is its own (never a shared pool's). */
export const movable = (array: Uint8Array): ArrayBuffer[] =>
  array.byteOffset === 0 && array.byteLength === array.buffer.byteLength && array.buffer instanceof ArrayBuffer ? [array.buffer] : [];

/**
 * The thread that runs `module` (lib/check/decode.ts, or its built package), started once the
 * module that asks for it has been imported (after pending I/O), so that a cold start's import
 * does not wait for a thread: it starts beside the rest of the container's start, or with the
 * first decode if that comes first. It holds the process open only while a decode is under way. A thread that dies while decoding
 * fails the decodes waiting on it and is started again for the next; one that could not load
 * its module at all fails every decode with that reason, without starting again.
 */
export class PixelWorker {
  readonly #module: URL | string;
  readonly #waiting = new Map<number, Waiting>();
  #worker: Worker | undefined;
  #unusable: Error | undefined;
  #next = 0;

  constructor(module: URL | string) {
    this.#module = module;
    setImmediate(() => {
      if (this.#worker === undefined && this.#unusable === undefined) this.#start();
    }).unref();
  }

  decode(bytes: Uint8Array, format: ImageFormat, header: ImageHeader): Promise<DecodedPixels> {
    if (this.#unusable !== undefined) return Promise.reject(this.#unusable);
    const worker = this.#worker ?? this.#start();
    this.#next += 1;
    const id = this.#next;
    const owned = movable(bytes).length > 0 ? bytes : bytes.slice();
    return new Promise<DecodedPixels>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ id, bytes: owned, format, header } satisfies DecodeRequest, movable(owned));
    });
  }

  #start(): Worker {
    // No flags of the process's own: a process started with `--input-type` (code given with `-e`) would pass it on, and Node refuses it for a file.
    const worker = new Worker(this.#module, { workerData: PIXEL_WORKER, execArgv: [] });
    worker.unref();
    let ready = false;
    worker.on('message', (reply: DecodeReply) => {
      if ('ready' in reply) {
        ready = true;
        return;
      }
      const waiting = this.#waiting.get(reply.id);
      this.#waiting.delete(reply.id);
      if (this.#waiting.size === 0) worker.unref();
      if ('error' in reply) waiting?.reject(new Error(reply.error));
      else waiting?.resolve(reply.pixels);
    });
    const ended = (error: Error) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      if (!ready) this.#unusable = error;
      for (const waiting of this.#waiting.values()) waiting.reject(error);
      this.#waiting.clear();
    };
    worker.on('error', ended);
    worker.on('exit', (code) => ended(new Error(`the pixel decoder's thread stopped (exit code ${code})`)));
    this.#worker = worker;
    return worker;
  }
}

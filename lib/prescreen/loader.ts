import type { Prescreen } from '../check/check.ts';
import { relayOutcome, type CheckOutcome } from '../check/outcome.ts';
import type { PixelDecoder } from '../check/pixels.ts';
import { describeError, logger } from '../platform/logger.ts';
import type { FaceScreen, ScreenResult } from './screen.ts';
import { MIN_FACE_PIXELS, MIN_FACE_SHARE } from './limits.ts';

/** The pre-screen's sources; deployed, PRESCREEN_MODULE names its built package instead. */
const SOURCE_MODULE = new URL('./screen.ts', import.meta.url).href;

type ScreenModule = typeof import('./screen.ts');

/** The package's module: ESM imports it once per container, whoever asks first. */
const importPackage = (module: string | undefined) => import(module ?? SOURCE_MODULE) as Promise<ScreenModule>;

/**
 * The pixel decoder the pre-screen's package carries (jpeg-js, pngjs, exifr), for every step of a
 * check that reads pixels. Imported by a path known only at run time, like the pre-screen, so
 * that no function bundle contains it.
 *
 * @example
 * const decodePixels = loadPixelDecoder(config.prescreenModule);
 */
export function loadPixelDecoder(module: string | undefined): PixelDecoder {
  const loaded = importPackage(module);
  // Not unhandled: a failed import is the reason each decode that awaits it gives (and the pre-screen logs it).
  loaded.catch(() => undefined);
  return async (bytes, format, header) => (await loaded).decodePixels(bytes, format, header);
}

/**
 * The pre-screen as a step of every check (PRESCREEN=on). Its module is imported by a path known
 * only at run time, so no function bundle contains it (deployed, it is a package of its own
 * beside the bundle, in the zip only when param prescreen is on), and it starts loading with the
 * container. It screens base64 JPEG and PNG images within the decode limits
 * (lib/check/pixels.ts), reading the pixels the check decodes once; an image URL (Deepvue fetches
 * it, the relay never does), WebP (no pure-JavaScript decoder), a picture over the limits and any
 * image the pre-screen fails on go to Deepvue unscreened: it may save a paid call, never cost a
 * check.
 *
 * @example
 * const prescreen = loadPrescreen(config.prescreenModule);
 */
export function loadPrescreen(module: string | undefined): Prescreen {
  const screen = startPrescreen(module);
  return async (image, pixels) => {
    if (image.kind !== 'base64' || image.format === 'webp') return undefined;
    try {
      const faces = await screen;
      const decoded = await pixels();
      if (!decoded.ok) {
        logger.info('pre-screen skipped: the image goes to Deepvue unscreened', { reason: decoded.reason });
        return undefined;
      }
      const result = faces.screen(decoded.pixels);
      logger.info('pre-screen finished', {
        finding: result.finding,
        faces: result.faces,
        decode_ms: Math.round(decoded.decodeMs),
        detect_ms: Math.round(result.detectMs),
      });
      return outcomeOf(result);
    } catch (error) {
      logger.warn('pre-screen skipped: the image goes to Deepvue unscreened', { error: describeError(error) });
      return undefined;
    }
  };
}

const screens = new Map<string, Promise<FaceScreen>>();

/**
 * The face screen of `module` (default: the sources), started at the first call and shared by
 * every later one in this process: deployed, one function per process; under `npm start`, every
 * checking function of the process, and the start-up banner, which says whether it runs.
 */
export function startPrescreen(module: string | undefined): Promise<FaceScreen> {
  const specifier = module ?? SOURCE_MODULE;
  let screen = screens.get(specifier);
  if (screen !== undefined) return screen;
  const started = performance.now();
  screen = importPackage(specifier).then(async ({ createFaceScreen }) => {
    const faces = await createFaceScreen();
    logger.info('pre-screen ready', { start_ms: Math.round(performance.now() - started) });
    return faces;
  });
  screen.catch((error: unknown) => logger.error('the pre-screen cannot start: checks go to Deepvue unscreened', { error: describeError(error) }));
  screens.set(specifier, screen);
  return screen;
}

function outcomeOf(result: ScreenResult): CheckOutcome | undefined {
  switch (result.finding) {
    case 'pass':
      return undefined;
    case 'no-face':
      return relayOutcome('FACE_NOT_DETECTED', 'Face Not Detected', 'prescreen');
    case 'cut-off':
      return relayOutcome('FACE_NOT_DETECTED', 'Face Not Detected: the face is cut off by the edge of the image', 'prescreen');
    case 'several-faces':
      return relayOutcome('MULTIPLE_FACES', `the image shows ${result.faces} faces; a liveness check needs exactly one`, 'prescreen');
    case 'too-small': {
      const percent = Math.round((result.faceSize ?? 0) * 100);
      return relayOutcome(
        'FACE_TOO_SMALL',
        `the face spans ${percent} % of the image's short side; at least ${MIN_FACE_SHARE * 100} % and ${MIN_FACE_PIXELS} pixels are needed`,
        'prescreen',
      );
    }
  }
}

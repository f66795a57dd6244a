/**
 * The pictures in the docs are screenshots the browser tests take. Each carries, in a PNG tEXt
 * chunk, the build of the capture page it shows, so that a test without a browser can tell a
 * picture of an older page (test/docs/pictures.test.ts), and the browser tests rewrite a picture
 * only when it shows another build: on a fresh clone `npm test` leaves the work tree as it was.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import metaPng from 'meta-png';
import page from '../../.build/capture-page.json' with { type: 'json' };

/** The picture of the capture page in the README and docs/capture-page.md. */
export const CAPTURE_PAGE_PICTURE = fileURLToPath(new URL('../../docs/capture-page.png', import.meta.url));

/**
 * The capture page build the tests serve: the SHA-256 of its HTML, which holds its script and
 * styles and names the detector's files by their content hashes. The build is reproducible, so
 * every clone of one commit computes the same value.
 */
export const CAPTURE_PAGE_BUILD = createHash('sha256').update(page.html).digest('hex');

const BUILD_KEY = 'liveness-relay capture page build';

/** The build the picture at `path` shows, if it is there and says. */
export function pictureBuild(path: string): string | undefined {
  return existsSync(path) ? metaPng.getMetadata(readFileSync(path), BUILD_KEY) : undefined;
}

/** Writes the screenshot `png` to `path`, marked with the current build, unless the picture there already shows that build. */
export function refreshPicture(path: string, png: Uint8Array): boolean {
  if (pictureBuild(path) === CAPTURE_PAGE_BUILD) return false;
  writeFileSync(path, metaPng.addMetadata(png, BUILD_KEY, CAPTURE_PAGE_BUILD));
  return true;
}

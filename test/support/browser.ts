import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { writeY4m } from './fake-camera.ts';
import type { Picture } from './pictures.ts';

/**
 * Debian's Chromium driven by playwright-core (no browser download): CHROMIUM_PATH, else
 * /usr/bin/chromium. Browser tests skip when it is missing, saying so, unless they are required
 * (`npm run test:browser` sets BROWSER_TESTS=required, and CI=true requires them too): then a
 * missing browser fails them.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const chromiumFound = existsSync(CHROMIUM_PATH);
const required = process.env.BROWSER_TESTS === 'required' || process.env.CI === 'true';

/** True when the browser tests can run; otherwise warns plainly (or throws when they are required). */
export function browserAvailable(): boolean {
  if (chromiumFound) return true;
  const message = `browser tests SKIPPED: no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`;
  if (required) throw new Error(message.replace('SKIPPED', 'cannot run'));
  process.stderr.write(`\n*** ${message} ***\n\n`);
  return false;
}

/** The flags the closed network here needs (no background traffic, no first-run UI). */
const QUIET_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface ChromiumOptions {
  /**
   * A fake camera streaming this JPEG file, or these pixels (made into a Y4M file for the run),
   * whose permission prompt is accepted; without it the browser has no camera access (the prompt
   * is dismissed).
   */
  cameraPhoto?: string | Picture;
}

/** A headless Chromium with a fresh profile (playwright gives each launch its own user data dir). */
export async function launchChromium(options: ChromiumOptions = {}): Promise<Browser> {
  const args = [...QUIET_FLAGS];
  let cameraDir: string | undefined;
  if (options.cameraPhoto !== undefined) {
    cameraDir = mkdtempSync(join(tmpdir(), 'fake-camera-'));
    const video = join(cameraDir, 'camera.y4m');
    writeY4m(typeof options.cameraPhoto === 'string' ? readFileSync(options.cameraPhoto) : options.cameraPhoto, video);
    args.push('--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-video-capture=${video}`);
  } else {
    args.push('--use-fake-device-for-media-stream');
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args });
  if (cameraDir !== undefined) {
    const dir = cameraDir;
    browser.on('disconnected', () => rmSync(dir, { recursive: true, force: true }));
  }
  return browser;
}

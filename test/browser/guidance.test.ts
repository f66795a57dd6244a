/**
 * The capture page's face guide in a real browser: each fake camera streams a fixture photograph
 * (or the frontal face made too small, too large, off the oval, dark or blurred) and the page must
 * say what to fix, keep the photo button disabled, and not take the photo; only a good picture is
 * offered and taken. Without the detector's files or WebAssembly the page works as before and
 * says the guide is off.
 */
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEXTS } from '../../web/capture/texts.ts';
import { browserAvailable, launchChromium } from '../support/browser.ts';
import { startCaptureStack, type CaptureStack } from '../support/capture-stack.ts';
import { blurred, darkened, decodeJpeg, placed, type Picture } from '../support/pictures.ts';

const fixture = (name: string) => decodeJpeg(readFileSync(new URL(`../fixtures/images/${name}`, import.meta.url)));
const FACE = fixture('face-480p.jpg');
const FRAME = { width: 852, height: 480 };
const PHONE = { width: 360, height: 740 };
const WAIT = { timeout: 30_000 };
/** Longer than the steady spell before a photo is taken: a stream that must not be taken is watched this long. */
const WATCH_MS = 3000;

/** Each stream and what the guide must say of it. */
const STREAMS: Array<[string, () => Picture, string]> = [
  ['no-face-diagram.jpg: no face', () => fixture('no-face-diagram.jpg'), TEXTS.guideNoFace],
  ['two-faces.jpg: two faces', () => fixture('two-faces.jpg'), TEXTS.guideSeveralFaces],
  ['partial-face.jpg: the face cut by the frame', () => fixture('partial-face.jpg'), TEXTS.guideCutOff],
  // Stored sideways (EXIF orientation 6): a camera held sideways streams it so.
  ['live-selfie-exif-rotated.jpg as stored: sideways', () => fixture('live-selfie-exif-rotated.jpg'), TEXTS.guideSideways],
  ['the face at half size: too far', () => placed(FACE, { ...FRAME, scale: 0.5 }), TEXTS.guideTooFar],
  ['the face three times as large: too close', () => placed(FACE, { ...FRAME, scale: 3, centreY: 1.206 }), TEXTS.guideTooClose],
  ['the face at the left of the frame, outside the part shown: off the oval', () => placed(FACE, { ...FRAME, centreX: 0.2 }), TEXTS.guideOffCentre],
  ['the face at a quarter of its light: too dark', () => darkened(FACE, 0.25), TEXTS.guideTooDark],
  ['the face out of focus: blurred', () => blurred(FACE, 4), TEXTS.guideBlurred],
];

const available = browserAvailable();

describe.skipIf(!available)('the face guide in Chromium', () => {
  let stack: CaptureStack;

  beforeAll(async () => {
    stack = await startCaptureStack();
  });
  afterAll(() => stack?.close());

  /** Opens a session's page with a camera streaming `picture`, records the status region's announcements, and opens the camera. */
  async function openWith(browser: Browser, prepare?: (page: Page) => Promise<unknown>) {
    const session = await stack.openSession();
    const context = await browser.newContext({ viewport: PHONE });
    const page = await context.newPage();
    await page.addInitScript(() => {
      const said: string[] = [];
      (window as unknown as { said: string[] }).said = said;
      addEventListener('DOMContentLoaded', () => {
        const status = document.getElementById('announcer');
        if (status !== null) new MutationObserver(() => status.textContent && said.push(status.textContent)).observe(status, { childList: true, characterData: true, subtree: true });
      });
    });
    await prepare?.(page);
    await page.goto(session.capture_url);
    await page.getByRole('button', { name: TEXTS.startCamera }).click();
    return { session, context, page, said: () => page.evaluate(() => (window as unknown as { said: string[] }).said) };
  }

  const guidance = (page: Page) => page.locator('#guidance').textContent();
  const takePhoto = (page: Page) => page.getByRole('button', { name: TEXTS.takePhoto });

  for (const [name, picture, message] of STREAMS) {
    it(`says what to fix, and offers no photo: ${name}`, async () => {
      const browser = await launchChromium({ cameraPhoto: picture() });
      try {
        const { page, said } = await openWith(browser);
        await expect.poll(() => guidance(page), WAIT).toBe(message);
        const settled = Date.now();
        while (Date.now() - settled < WATCH_MS) {
          expect(await takePhoto(page).isDisabled()).toBe(true);
          expect(await guidance(page)).toBe(message);
          await page.waitForTimeout(250);
        }
        expect(await page.getByRole('heading', { name: TEXTS.cameraHeading }).isVisible()).toBe(true);
        // Announced once, not at every check.
        expect((await said()).filter((text) => text === message)).toHaveLength(1);
      } finally {
        await browser.close();
      }
    });
  }

  it('offers the photo only once the face is good, takes it after a steady spell, and the check completes', async () => {
    const browser = await launchChromium({ cameraPhoto: FACE });
    try {
      const { session, page, said } = await openWith(browser);
      const states: Array<[string | null, boolean]> = [];
      const review = page.getByRole('heading', { name: TEXTS.reviewHeading });
      while (!(await review.isVisible())) {
        // A sample counts only if the guide said the same before and after the button was read,
        // and the photo was not taken meanwhile (taking it disables the button).
        const text = await guidance(page);
        const disabled = await takePhoto(page).isDisabled().catch(() => true);
        if (text === (await guidance(page)) && !(await review.isVisible())) states.push([text, disabled]);
        await page.waitForTimeout(100);
        if (states.length > 300) throw new Error('no photo taken in 30 s');
      }
      // Taking the photo disables the button while the guide still says steady, until the review
      // shows: those last samples are the capture itself, not the guide.
      while (states.at(-1)?.[0] === TEXTS.guideSteady && states.at(-1)?.[1] === true) states.pop();
      // Disabled while the guide started, enabled only when steady.
      for (const [text, disabled] of states) expect(disabled, String(text)).toBe(text !== TEXTS.guideSteady);
      expect(states.some(([text]) => text === TEXTS.guideSteady)).toBe(true);
      expect(await said()).toContain(TEXTS.guideSteady);
      await page.getByRole('button', { name: TEXTS.usePhoto }).click();
      await expect.poll(() => page.getByRole('heading', { name: TEXTS.doneHeading }).isVisible(), WAIT).toBe(true);
      expect((await stack.readSession(session.session_id)).body).toMatchObject({ status: 'COMPLETED', result: { sub_code: 'SUCCESS' } });
    } finally {
      await browser.close();
    }
  });

  it('without the model, or without WebAssembly, says the guide is off and lets the user take the photo', async () => {
    const browser = await launchChromium({ cameraPhoto: FACE });
    try {
      const blocked: Array<(page: Page) => Promise<unknown>> = [
        (page: Page) => page.route(/blazeface-.*\.bin$/, (route) => route.abort()),
        (page: Page) => page.addInitScript(() => Reflect.deleteProperty(globalThis, 'WebAssembly')),
      ];
      for (const block of blocked) {
        const { session, page } = await openWith(browser, block);
        await expect.poll(() => guidance(page), WAIT).toBe(TEXTS.guideOff);
        await expect.poll(() => takePhoto(page).isEnabled(), WAIT).toBe(true);
        await expect.poll(() => page.locator('video').evaluate((video: HTMLVideoElement) => video.videoWidth), WAIT).toBe(FRAME.width);
        await takePhoto(page).click();
        await page.getByRole('button', { name: TEXTS.usePhoto }).click();
        await expect.poll(() => page.getByRole('heading', { name: TEXTS.doneHeading }).isVisible(), WAIT).toBe(true);
        expect((await stack.readSession(session.session_id)).body).toMatchObject({ status: 'COMPLETED' });
      }
    } finally {
      await browser.close();
    }
  });

  it('serves the detector as a separate, cached download of at most 450 kB gzipped', async () => {
    const html = await (await fetch(`${stack.url}/capture`)).text();
    const names = [...new Set(html.match(/detector-[0-9a-f]{12}\.js/g))];
    expect(names).toHaveLength(1);
    const worker = await fetch(`${stack.url}/capture/assets/${names[0]}`);
    expect(worker.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(worker.headers.get('content-security-policy')).toContain("script-src 'wasm-unsafe-eval'");
    const script = await worker.text();
    const files = [...new Set(script.match(/(blazeface|tfjs-backend-wasm-simd)-[0-9a-f]{12}\.(json|bin|wasm)/g))];
    expect(files).toHaveLength(3);
    let total = gzipSync(script).byteLength;
    for (const file of files) {
      const response = await fetch(`${stack.url}/capture/assets/${file}`, { headers: { accept: 'application/octet-stream' } });
      expect(response.status).toBe(200);
      total += gzipSync(Buffer.from(await response.arrayBuffer()), { level: 9 }).byteLength;
    }
    expect(total).toBeLessThanOrEqual(450_000);
    expect((await fetch(`${stack.url}/capture/assets/nothing.js`)).status).toBe(404);
  });
});

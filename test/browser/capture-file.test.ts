/**
 * The capture page's file step on a phone's screen (360 px wide), with no camera allowed: it says
 * what to do without telling the user to use a camera it could not open, offers the camera again,
 * shows the chosen photo large enough to judge, and sends it.
 */
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEXTS } from '../../web/capture/texts.ts';
import { browserAvailable, launchChromium } from '../support/browser.ts';
import { startCaptureStack, type CaptureStack } from '../support/capture-stack.ts';

const PHONE = { width: 360, height: 740 };
const WAIT = { timeout: 30_000 };
const photo = (name: string) => fileURLToPath(new URL(`../fixtures/images/${name}`, import.meta.url));
const available = browserAvailable();

describe.skipIf(!available)('the capture page\'s file step at 360 px', () => {
  let stack: CaptureStack;
  let noCamera: Browser;

  beforeAll(async () => {
    [stack, noCamera] = await Promise.all([startCaptureStack(), launchChromium()]);
  });
  afterAll(async () => {
    await noCamera?.close();
    await stack?.close();
  });

  const heading = (page: Page, name: string) => expect.poll(() => page.getByRole('heading', { name }).isVisible(), WAIT).toBe(true);

  /** The review photo's size on screen, in CSS pixels. */
  const shown = (page: Page) => page.getByRole('img', { name: TEXTS.reviewImageAlt }).evaluate((image) => {
    const { width, height } = image.getBoundingClientRect();
    return { width: Math.round(width), height: Math.round(height) };
  });

  it('chosen by the user: a hint about photos, a way back to the camera, a large review, and the photo is checked', async () => {
    const session = await stack.openSession('browser-file-step');
    const context = await noCamera.newContext({ viewport: PHONE });
    const page = await context.newPage();
    try {
      await page.goto(session.capture_url);
      await heading(page, TEXTS.startHeading);
      await page.getByRole('button', { name: TEXTS.useFile }).click();
      await heading(page, TEXTS.fileHeading);
      const hint = await page.locator('#file-hint').textContent();
      expect(hint).toBe(TEXTS.fileHint);
      expect(hint).not.toMatch(/front camera/i);

      // A way back: the camera is tried again (denied here, so the file step says why).
      await page.getByRole('button', { name: TEXTS.useCamera }).click();
      await heading(page, TEXTS.fileHeading);
      expect(await page.locator('#file-reason').textContent()).toBe(TEXTS.fileCameraDenied);
      expect(await page.getByRole('button', { name: TEXTS.useCamera }).isVisible()).toBe(true);

      // A landscape photo, as a desktop webcam or a file takes it: shown as large as the camera's preview.
      await page.getByLabel(TEXTS.fileInputLabel).setInputFiles(photo('face-480p.jpg'));
      await heading(page, TEXTS.reviewHeading);
      const landscape = await shown(page);
      expect(landscape.height).toBeGreaterThan(350);
      expect(landscape.width).toBeLessThanOrEqual(PHONE.width);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);

      // Retake goes back to the file step; a portrait selfie, EXIF-rotated, is as large.
      await page.getByRole('button', { name: TEXTS.retake }).click();
      await heading(page, TEXTS.fileHeading);
      await page.getByLabel(TEXTS.fileInputLabel).setInputFiles(photo('live-selfie-exif-rotated.jpg'));
      await heading(page, TEXTS.reviewHeading);
      expect((await shown(page)).height).toBeGreaterThan(350);

      await page.getByRole('button', { name: TEXTS.usePhoto }).click();
      await heading(page, TEXTS.doneHeading);
      expect(await stack.readSession(session.session_id)).toMatchObject({ body: { status: 'COMPLETED', result: { sub_code: 'SUCCESS' } } });
    } finally {
      await context.close();
    }
  });
});

/**
 * The capture page in a real browser (Debian's Chromium, headless, a fake camera streaming a
 * fixture photo) against `npm start`: a backend opens a session, the user's browser takes the
 * selfie and uploads it, the backend reads the verdict. Screenshots are kept in
 * test-artifacts/browser/ (not committed); the phone's camera step is also the docs' picture of
 * the page, docs/capture-page.png, rewritten when it shows another build of the page.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TEXTS } from '../../web/capture/texts.ts';
import { browserAvailable, launchChromium } from '../support/browser.ts';
import { startCaptureStack, type CaptureStack } from '../support/capture-stack.ts';
import { CAPTURE_PAGE_PICTURE, refreshPicture } from '../support/doc-pictures.ts';
import { documentProblems } from '../support/openapi.ts';

const PHOTO = fileURLToPath(new URL('../fixtures/images/face-480p.jpg', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/browser/', import.meta.url));
const PHONE = { width: 360, height: 740 };
const DESKTOP = { width: 1280, height: 800 };
/** How long a step may take on a loaded 2-core machine. */
const WAIT = { timeout: 30_000 };

/** Everything the page received over the network, to prove it never saw a verdict. */
interface Received {
  url: string;
  status: number;
  body: string;
}

const available = browserAvailable();

describe.skipIf(!available)('the capture page in Chromium', () => {
  let stack: CaptureStack;
  let camera: Browser;
  let noCamera: Browser;

  /** Problems of the relay's answers to the pages, against docs/openapi.yaml. */
  const undocumented: Array<Promise<string[]>> = [];
  afterEach(async () => {
    expect((await Promise.all(undocumented.splice(0))).flat()).toEqual([]);
  });

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    [stack, camera, noCamera] = await Promise.all([startCaptureStack(), launchChromium({ cameraPhoto: PHOTO }), launchChromium()]);
  });
  afterAll(async () => {
    await Promise.all([camera?.close(), noCamera?.close()]);
    await stack?.close();
  });

  /** A page on a fresh context that records every response it gets. */
  async function open(browser: Browser, viewport: { width: number; height: number }, url: string) {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const received: Array<Promise<Received>> = [];
    page.on('response', (response) => {
      const entry = { url: response.url(), status: response.status() };
      const body = response.text().then((text) => text, () => '');
      received.push(body.then((text) => ({ ...entry, body: text })));
      // What the relay answered the page is held to docs/openapi.yaml like every other answer.
      if (entry.url.startsWith(stack.url)) {
        undocumented.push(Promise.all([body, response.allHeaders()]).then(([text, headers]) =>
          documentProblems({ method: response.request().method(), path: new URL(entry.url).pathname, status: entry.status, headers, body: text })));
      }
    });
    await page.goto(url);
    return { context, page, received };
  }

  const shot = (page: Page, name: string) => page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
  const heading = (page: Page, name: string) => expect.poll(() => page.getByRole('heading', { name }).isVisible(), WAIT).toBe(true);

  async function openCamera(page: Page): Promise<void> {
    await page.getByRole('button', { name: TEXTS.startCamera }).click();
    await expect.poll(() => page.getByRole('button', { name: TEXTS.takePhoto }).isEnabled(), WAIT).toBe(true);
    // The fake camera streams the photograph at its own size (852×480).
    await expect.poll(() => page.locator('video').evaluate((video: HTMLVideoElement) => video.videoWidth), WAIT).toBe(852);
  }

  /** The face guide finds the photograph's face good and takes the photo by itself. */
  async function capture(page: Page): Promise<void> {
    await openCamera(page);
    await expect.poll(() => page.getByRole('img', { name: TEXTS.reviewImageAlt }).isVisible(), WAIT).toBe(true);
  }

  /**
   * Nothing the page received holds a verdict. Only a refused session route's envelope has a
   * sub_code at all, and it names the session's state, never the check's.
   */
  async function expectNoVerdict(responses: Array<Promise<Received>>, refusals: string[] = []): Promise<void> {
    const received = await Promise.all(responses);
    expect(received.length).toBeGreaterThan(0);
    for (const { url, body } of received) {
      expect(body, url).not.toMatch(/is_live|"score"/);
    }
    const withSubCode = received.filter(({ body }) => body.includes('sub_code'));
    expect(withSubCode.map(({ body }) => (JSON.parse(body) as { sub_code: string }).sub_code)).toEqual(refusals);
  }

  for (const [name, viewport] of [['phone', PHONE], ['desktop', DESKTOP]] as const) {
    it(`takes a selfie with the front camera and the backend reads the sandbox's verdict (${viewport.width}×${viewport.height})`, async () => {
      const session = await stack.openSession(`browser-${name}`);
      expect(session.capture_url).toBe(`${stack.url}/capture#${session.session_id}`);
      const { context, page, received } = await open(camera, viewport, session.capture_url);
      try {
        await heading(page, TEXTS.startHeading);
        await shot(page, `${name}-1-start`);
        await capture(page);
        await page.getByRole('button', { name: TEXTS.retake }).click();
        await expect.poll(() => page.getByRole('button', { name: TEXTS.takePhoto }).isEnabled(), WAIT).toBe(true);
        expect(await page.locator('#guidance').textContent()).toBe(TEXTS.guideSteady);
        const cameraStep = await shot(page, `${name}-2-camera`);
        if (viewport === PHONE) refreshPicture(CAPTURE_PAGE_PICTURE, cameraStep);
        // Retaken by itself after the steady spell.
        await heading(page, TEXTS.reviewHeading);
        await shot(page, `${name}-3-review`);
        await page.getByRole('button', { name: TEXTS.usePhoto }).click();
        await heading(page, TEXTS.doneHeading);
        await expect.poll(() => page.getByRole('status').textContent(), WAIT).toBe(TEXTS.doneText);
        await shot(page, `${name}-4-done`);
        // Usable at this width: nothing wider than the viewport.
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(viewport.width);

        expect(await stack.readSession(session.session_id)).toMatchObject({
          status: 200,
          body: { status: 'COMPLETED', reference: `browser-${name}`, result: { code: 200, sub_code: 'SUCCESS', data: { is_live: true } } },
        });
        await expectNoVerdict(received);
        // The id travelled only in the fragment and in the session routes' paths.
        for (const { url } of await Promise.all(received)) {
          if (url.includes(session.session_id)) expect(url).toMatch(new RegExp(`/v1/liveness-sessions/${session.session_id}/(progress|upload)$`));
        }
      } finally {
        await context.close();
      }
    });
  }

  it('is usable by keyboard and screen reader: headings take focus, controls are labelled, changes are announced, text contrasts', async () => {
    const session = await stack.openSession();
    // Without the detector (guidance off) the photo is the user's to take: by keyboard here.
    const context = await camera.newContext({ viewport: PHONE });
    await context.route('**/capture/assets/**', (route) => route.abort());
    const page = await context.newPage();
    await page.goto(session.capture_url);
    try {
      await heading(page, TEXTS.startHeading);
      const focused = () => page.evaluate(() => document.activeElement?.textContent?.trim());
      expect(await focused()).toBe(TEXTS.startHeading);
      await page.keyboard.press('Tab');
      expect(await focused()).toBe(TEXTS.startCamera);
      await page.keyboard.press('Tab');
      expect(await focused()).toBe(TEXTS.useFile);
      expect(await page.getByRole('status').count()).toBe(1);
      expect(await page.getByRole('status').getAttribute('aria-live')).toBe('polite');

      await page.keyboard.press('Shift+Tab');
      await page.keyboard.press('Enter');
      await expect.poll(() => page.getByRole('button', { name: TEXTS.takePhoto }).isEnabled(), WAIT).toBe(true);
      expect(await focused()).toBe(TEXTS.cameraHeading);
      expect(await page.locator('video').getAttribute('aria-label')).toBe(TEXTS.cameraVideoLabel);
      await page.getByRole('button', { name: TEXTS.takePhoto }).press('Enter');
      await heading(page, TEXTS.reviewHeading);
      expect(await focused()).toBe(TEXTS.reviewHeading);

      // WCAG AA: at least 4.5:1 for every text shown so far, and the buttons.
      const ratios = await page.evaluate(() => {
        const parse = (color: string) => (color.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number);
        const luminance = ([r, g, b]: number[]) =>
          [r, g, b].map((v) => (v! / 255 <= 0.03928 ? v! / 255 / 12.92 : ((v! / 255 + 0.055) / 1.055) ** 2.4)).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i]!, 0);
        const background = (element: Element): string => {
          for (let node: Element | null = element; node; node = node.parentElement) {
            const color = getComputedStyle(node).backgroundColor;
            if (!color.endsWith(', 0)') && color !== 'transparent') return color;
          }
          return 'rgb(255, 255, 255)';
        };
        return [...document.querySelectorAll('h1, p, li, button, label')]
          .filter((element) => (element as HTMLElement).offsetParent !== null && element.textContent?.trim())
          .map((element) => {
            const [a, b] = [luminance(parse(getComputedStyle(element).color)), luminance(parse(background(element)))];
            return { text: element.textContent?.trim(), ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) };
          });
      });
      expect(ratios.length).toBeGreaterThan(3);
      for (const { text, ratio } of ratios) expect(ratio, text).toBeGreaterThanOrEqual(4.5);
    } finally {
      await context.close();
    }
  });

  it('offers a choice of camera when the browser lists several', async () => {
    const session = await stack.openSession();
    const context = await camera.newContext({ viewport: PHONE });
    try {
      const page = await context.newPage();
      // A second camera beside the fake one, as a phone lists its back camera.
      await page.addInitScript(() => {
        const list = navigator.mediaDevices.enumerateDevices.bind(navigator.mediaDevices);
        navigator.mediaDevices.enumerateDevices = async () => [
          ...(await list()),
          { deviceId: 'back-camera', groupId: 'phone', kind: 'videoinput', label: 'Back camera', toJSON: () => ({}) } as MediaDeviceInfo,
        ];
      });
      await page.goto(session.capture_url);
      await openCamera(page);
      const choice = page.getByLabel(TEXTS.cameraChoice, { exact: true });
      await expect.poll(() => choice.isVisible(), WAIT).toBe(true);
      const options = await choice.locator('option').allTextContents();
      expect(options).toHaveLength(2);
      expect(options[1]).toBe('Back camera');
      // The front camera (the one streaming) is the one chosen.
      expect(await choice.inputValue()).not.toBe('back-camera');
    } finally {
      await context.close();
    }
  });

  it('falls back to a file input with capture="user" when the camera is denied, and checks the photo chosen', async () => {
    const session = await stack.openSession('browser-file');
    const { context, page, received } = await open(noCamera, PHONE, session.capture_url);
    try {
      await page.getByRole('button', { name: TEXTS.startCamera }).click();
      await heading(page, TEXTS.fileHeading);
      expect(await page.locator('#file-reason').textContent()).toBe(TEXTS.fileCameraDenied);
      const input = page.getByLabel(TEXTS.fileInputLabel);
      expect(await input.getAttribute('capture')).toBe('user');
      expect(await input.getAttribute('accept')).toBe('image/jpeg,image/png,image/webp');
      await shot(page, 'phone-5-file-fallback');

      await input.setInputFiles(fileURLToPath(new URL('../fixtures/images/live-selfie-exif-rotated.jpg', import.meta.url)));
      await heading(page, TEXTS.reviewHeading);
      await page.getByRole('button', { name: TEXTS.usePhoto }).click();
      await heading(page, TEXTS.doneHeading);

      expect(await stack.readSession(session.session_id)).toMatchObject({ body: { status: 'COMPLETED', result: { sub_code: 'SUCCESS' } } });
      await expectNoVerdict(received);
    } finally {
      await context.close();
    }
  });

  it('says a link has expired, on opening it and when the window closes before the upload', async () => {
    const late = await stack.openSession();
    await stack.expireNow(late.session_id);
    const first = await open(camera, PHONE, late.capture_url);
    await heading(first.page, TEXTS.problemHeading);
    expect(await first.page.locator('#problem-text').textContent()).toBe(TEXTS.problemExpired);
    await shot(first.page, 'phone-6-expired');
    await expectNoVerdict(first.received);
    await first.context.close();

    const slow = await stack.openSession();
    const second = await open(camera, PHONE, slow.capture_url);
    try {
      await capture(second.page);
      await stack.expireNow(slow.session_id);
      await second.page.getByRole('button', { name: TEXTS.usePhoto }).click();
      await heading(second.page, TEXTS.problemHeading);
      expect(await second.page.locator('#problem-text').textContent()).toBe(TEXTS.problemExpired);
      expect(await second.page.getByRole('button', { name: TEXTS.tryAgain }).isVisible()).toBe(false);
      await expectNoVerdict(second.received, ['SESSION_EXPIRED']);
      expect((await stack.readSession(slow.session_id)).body.status).toBe('EXPIRED');
    } finally {
      await second.context.close();
    }
  });

  it('refuses a second upload to a session: the other tab is told the link was used', async () => {
    const session = await stack.openSession('browser-twice');
    const first = await open(camera, PHONE, session.capture_url);
    const second = await open(camera, PHONE, session.capture_url);
    try {
      await capture(first.page);
      await capture(second.page);
      await first.page.getByRole('button', { name: TEXTS.usePhoto }).click();
      await heading(first.page, TEXTS.doneHeading);

      await second.page.getByRole('button', { name: TEXTS.usePhoto }).click();
      await heading(second.page, TEXTS.problemHeading);
      expect(await second.page.locator('#problem-text').textContent()).toBe(TEXTS.problemUsed);
      await expectNoVerdict(first.received);
      await expectNoVerdict(second.received, ['SESSION_USED']);

      // Opened again afterwards, the link says it is done.
      const again = await open(camera, PHONE, session.capture_url);
      await heading(again.page, TEXTS.doneHeading);
      await again.context.close();
      expect((await stack.readSession(session.session_id)).body).toMatchObject({ status: 'COMPLETED' });
    } finally {
      await Promise.all([first.context.close(), second.context.close()]);
    }
  });
});

/**
 * The capture page in Chromium against `npm start` and its sandbox: how long from the user's
 * "Take photo" to the page's "All done" (capture, review, presigned upload, the upload path's
 * check, progress polling), against the same photo checked by one POST /v1/liveness-check to the
 * same server; and what the page weighs. Needs Chromium (CHROMIUM_PATH or /usr/bin/chromium).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { TEXTS } from '../web/capture/texts.ts';
import { launchChromium } from '../test/support/browser.ts';
import { startCaptureStack } from '../test/support/capture-stack.ts';
import { percentile } from './stats.ts';

const PHOTO = fileURLToPath(new URL('../test/fixtures/images/face-480p.jpg', import.meta.url));
const WAIT = { timeout: 60_000 };

export interface CaptureTimes {
  runs: number;
  /** Capture click → "All done", ms. */
  page: { p50: number; p95: number };
  /** One POST /v1/liveness-check of the same photo to the same server, ms. */
  direct: { p50: number; p95: number };
  /** The page as served by GET /capture. */
  bytes: number;
  gzipBytes: number;
}

export async function measureCapture(runs: number): Promise<CaptureTimes> {
  const stack = await startCaptureStack();
  const browser = await launchChromium({ cameraPhoto: PHOTO });
  try {
    const html = await (await fetch(`${stack.url}/capture`)).text();
    const pageMs: number[] = [];
    // One run more than measured: the first warms the functions and the browser.
    for (let run = 0; run <= runs; run += 1) {
      const session = await stack.openSession(`bench-${run}`);
      const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
      const page = await context.newPage();
      await page.goto(session.capture_url);
      await page.getByRole('button', { name: TEXTS.startCamera }).click(WAIT);
      const takePhoto = page.getByRole('button', { name: TEXTS.takePhoto });
      // Enabled once the camera streams.
      await page.locator('#take-photo:not([disabled])').waitFor(WAIT);
      const started = performance.now();
      await takePhoto.click(WAIT);
      await page.getByRole('button', { name: TEXTS.usePhoto }).click(WAIT);
      await page.getByRole('heading', { name: TEXTS.doneHeading }).waitFor(WAIT);
      const elapsed = performance.now() - started;
      if (run > 0) pageMs.push(elapsed);
      await context.close();
      const { body } = await stack.readSession(session.session_id);
      if (body.status !== 'COMPLETED') throw new Error(`run ${run}: the session ended ${String(body.status)}`);
    }

    const image = readFileSync(PHOTO).toString('base64');
    const directMs: number[] = [];
    for (let run = 0; run <= runs; run += 1) {
      const started = performance.now();
      const response = await fetch(`${stack.url}/v1/liveness-check`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ image }) });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`POST /v1/liveness-check answered ${response.status}`);
      if (run > 0) directMs.push(performance.now() - started);
    }
    const summary = (values: number[]) => {
      const sorted = values.toSorted((a, b) => a - b);
      return { p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95) };
    };
    return { runs, page: summary(pageMs), direct: summary(directMs), bytes: Buffer.byteLength(html), gzipBytes: gzipSync(html, { level: 9 }).byteLength };
  } finally {
    await browser.close();
    await stack.close();
  }
}

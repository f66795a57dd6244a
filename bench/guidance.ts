/**
 * The capture page's face guide in Chromium: what its detector weighs (gzipped, as API Gateway
 * sends it), how long from opening the page until the detector is ready, and how long one check
 * of the preview takes (drawing the frame, the detector worker, the judgement), read from the
 * page's User Timing marks.
 */
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { TEXTS } from '../web/capture/texts.ts';
import { launchChromium } from '../test/support/browser.ts';
import { startCaptureStack } from '../test/support/capture-stack.ts';
import { percentile } from './stats.ts';

const PHOTO = fileURLToPath(new URL('../test/fixtures/images/face-480p.jpg', import.meta.url));
const WAIT = { timeout: 60_000 };

export interface GuidanceTimes {
  runs: number;
  downloadGzipBytes: number;
  downloadBytes: number;
  /** Page navigation → detector ready, ms. */
  ready: { p50: number; p95: number };
  /** One check of the preview, ms, over every check of every run. */
  check: { p50: number; p95: number; count: number };
}

export async function measureGuidance(runs: number): Promise<GuidanceTimes> {
  const stack = await startCaptureStack();
  const browser = await launchChromium({ cameraPhoto: PHOTO });
  try {
    const html = await (await fetch(`${stack.url}/capture`)).text();
    const worker = /detector-[0-9a-f]{12}\.js/.exec(html)?.[0] ?? '';
    const script = Buffer.from(await (await fetch(`${stack.url}/capture/assets/${worker}`)).arrayBuffer());
    const files = [script];
    for (const name of new Set(script.toString().match(/(blazeface|tfjs-backend-wasm-simd)-[0-9a-f]{12}\.(json|bin|wasm)/g))) {
      files.push(Buffer.from(await (await fetch(`${stack.url}/capture/assets/${name}`, { headers: { accept: 'application/octet-stream' } })).arrayBuffer()));
    }
    const ready: number[] = [];
    const checks: number[] = [];
    // One run more than measured: the first warms the functions and the browser.
    for (let run = 0; run <= runs; run += 1) {
      const session = await stack.openSession(`bench-guide-${run}`);
      const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
      const page = await context.newPage();
      await page.goto(session.capture_url);
      await page.getByRole('button', { name: TEXTS.startCamera }).click(WAIT);
      await page.getByRole('heading', { name: TEXTS.reviewHeading }).waitFor(WAIT);
      const marks = await page.evaluate(() => ({
        ready: performance.getEntriesByName('capture:guidance-ready')[0]?.startTime ?? Number.NaN,
        checks: performance.getEntriesByName('capture:face-check', 'measure').map((entry) => entry.duration),
      }));
      await context.close();
      if (run === 0) continue;
      ready.push(marks.ready);
      checks.push(...marks.checks);
    }
    const sorted = (values: number[]) => values.toSorted((a, b) => a - b);
    return {
      runs,
      downloadBytes: files.reduce((sum, file) => sum + file.byteLength, 0),
      downloadGzipBytes: files.reduce((sum, file) => sum + gzipSync(file, { level: 9 }).byteLength, 0),
      ready: { p50: percentile(sorted(ready), 0.5), p95: percentile(sorted(ready), 0.95) },
      check: { p50: percentile(sorted(checks), 0.5), p95: percentile(sorted(checks), 0.95), count: checks.length },
    };
  } finally {
    await browser.close();
    await stack.close();
  }
}

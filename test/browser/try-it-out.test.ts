/**
 * npm start's API reference after the README's tour: the tour's checks used `Idempotency-Key:
 * order-4711`, and "Try it out" on POST /v1/liveness-check must not send that key again (it would
 * answer 422 IDEMPOTENCY_KEY_REUSED for its own example image). The page opens from `/`.
 */
import { readFileSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserAvailable, launchChromium } from '../support/browser.ts';
import { startLocalServer, type LocalServer } from '../support/local-server.ts';

const WAIT = { timeout: 30_000 };
const available = browserAvailable();
const SELFIE = readFileSync(new URL('../fixtures/images/face-480p.jpg', import.meta.url)).toString('base64');

describe.skipIf(!available)('"Try it out" after the README\'s tour', () => {
  let server: LocalServer;
  let browser: Browser;

  beforeAll(async () => {
    [server, browser] = await Promise.all([startLocalServer({ DEEPVUE_CLIENT_ID: undefined, DEEPVUE_CLIENT_SECRET: undefined, DEEPVUE_SECRET_ID: undefined }), launchChromium()]);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('sends no Idempotency-Key of its own: Execute answers SUCCESS, twice', async () => {
    // The tour's check under its key.
    const toured = await server.request('/v1/liveness-check', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'order-4711' },
      body: JSON.stringify({ image: SELFIE }),
    });
    expect(toured.status).toBe(200);

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${server.url}/`);
    expect(new URL(page.url()).pathname).toBe('/docs');
    const check = page.locator('[id$="-checkLiveness"]');
    await expect.poll(() => check.count(), WAIT).toBe(1);
    await check.locator('.opblock-summary').click();
    await check.getByRole('button', { name: 'Try it out' }).click();
    const key = check.locator('tr[data-param-name="Idempotency-Key"] input');
    expect(await key.inputValue()).toBe('');

    const sent: Array<string | undefined> = [];
    const answered: number[] = [];
    page.on('request', (request) => {
      if (request.url().endsWith('/v1/liveness-check')) sent.push(request.headers()['idempotency-key']);
    });
    page.on('response', (response) => {
      if (response.url().endsWith('/v1/liveness-check')) answered.push(response.status());
    });
    for (const attempt of [1, 2]) {
      await check.getByRole('button', { name: 'Execute' }).click();
      await expect.poll(() => answered.length, WAIT).toBe(attempt);
    }
    expect(answered).toEqual([200, 200]);
    expect(await check.locator('.live-responses-table').textContent()).toContain('"sub_code": "SUCCESS"');
    expect(sent).toEqual([undefined, undefined]);
  });
});

/**
 * npm start's API reference (/docs) in a real browser: Swagger UI from node_modules renders every
 * operation of docs/openapi.yaml without a request leaving the machine, and its "Try it out" calls
 * the running relay.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserAvailable, launchChromium } from '../support/browser.ts';
import { startLocalServer, type LocalServer } from '../support/local-server.ts';
import { readDocument } from '../support/openapi.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/browser/', import.meta.url));
const WAIT = { timeout: 30_000 };
const available = browserAvailable();

describe.skipIf(!available)('the API reference of npm start in Chromium', () => {
  let server: LocalServer;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    [server, browser] = await Promise.all([startLocalServer({ DEEPVUE_CLIENT_ID: undefined, DEEPVUE_CLIENT_SECRET: undefined, DEEPVUE_SECRET_ID: undefined }), launchChromium()]);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('renders every operation of the document, offline, and runs a check with "Try it out"', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const elsewhere: string[] = [];
    const failed: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(server.url)) elsewhere.push(request.url());
    });
    page.on('response', (response) => {
      if (response.status() >= 400) failed.push(`${response.status()} ${response.url()}`);
    });
    await page.goto(`${server.url}/docs`);
    const document = readDocument() as { info: { title: string }; paths: Record<string, Record<string, { operationId: string }>> };
    const operations = Object.values(document.paths).reduce((sum, methods) => sum + Object.keys(methods).length, 0);
    await expect.poll(() => page.locator('.opblock').count(), WAIT).toBe(operations);

    expect(await page.locator('.info .title').first().textContent()).toContain(document.info.title);
    for (const [path, item] of Object.entries(document.paths)) {
      for (const operation of Object.values(item)) expect(await page.locator(`[id$="-${operation.operationId}"]`).count(), path).toBe(1);
    }
    await page.screenshot({ path: `${ARTIFACTS}reference.png` });

    const check = page.locator('[id$="-checkLiveness"]');
    await check.locator('.opblock-summary').click();
    await check.getByRole('button', { name: 'Try it out' }).click();
    await check.getByRole('button', { name: 'Execute' }).click();
    await expect.poll(() => check.locator('.live-responses-table').textContent(), WAIT).toContain('"sub_code": "SUCCESS"');
    expect(elsewhere).toEqual([]);
    expect(failed).toEqual([]);
  });
});

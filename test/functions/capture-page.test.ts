import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import page from '../../.build/capture-page.json' with { type: 'json' };
import { callApi, lambdaContext, loadFunction, restEvent, type RestHandler } from '../support/lambda.ts';
import { expectDocumented } from '../support/openapi.ts';

const BUCKET = 'liveness-relay-prod-eu-west-1-uploads';
const PAGE_BUDGET_GZIP_BYTES = 50 * 1024;

let handler: RestHandler;
let local: RestHandler;

beforeAll(async () => {
  const env = { UPLOAD_BUCKET: BUCKET, AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL_S3: undefined, AWS_ENDPOINT_URL: undefined, AWS_LAMBDA_FUNCTION_NAME: 'capturePage' };
  handler = await loadFunction('capture-page', env);
  local = await loadFunction('capture-page', { ...env, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:45123' });
});

async function get(fn: RestHandler) {
  const event = { ...restEvent('GET', '/capture', { body: null, headers: {} }), resource: '/capture' };
  const { status, headers, body, requestId } = await callApi(fn, event, 5000);
  return { statusCode: status, headers, body: String(body), requestId };
}

const hash = (content: string) => `'sha256-${createHash('sha256').update(content).digest('base64')}'`;
const inline = (html: string, tag: 'script' | 'style') => [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((match) => match[1] ?? '');

describe('GET /capture', () => {
  it('serves the page as HTML with its request id', async () => {
    const page = await get(handler);
    expect(page.statusCode).toBe(200);
    expect(page.headers).toMatchObject({ 'content-type': 'text/html; charset=utf-8', 'x-request-id': page.requestId, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' });
    expect(page.body).toMatch(/^<!doctype html><html lang="en">/);
  });

  it('loads nothing from elsewhere: one inline script and style, allowed by their hashes, and its detector worker from its own origin', async () => {
    const page = await get(handler);
    const policy = Object.fromEntries(String(page.headers?.['content-security-policy']).split('; ').map((directive) => {
      const [name, ...values] = directive.split(' ');
      return [name, values.join(' ')];
    }));
    const [script, ...otherScripts] = inline(page.body, 'script');
    const [style, ...otherStyles] = inline(page.body, 'style');
    expect([otherScripts, otherStyles]).toEqual([[], []]);
    expect(policy).toEqual({
      'default-src': "'none'",
      'script-src': hash(script!),
      'style-src': hash(style!),
      'img-src': 'blob:',
      'connect-src': `'self' https://${BUCKET}.s3.eu-west-1.amazonaws.com`,
      'base-uri': "'none'",
      'form-action': "'none'",
      'frame-ancestors': "'none'",
      'worker-src': "'self'",
      'require-trusted-types-for': "'script'",
      'trusted-types': 'capture-detector',
    });
    expect(page.body).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\//);
    expect(page.body).not.toMatch(/ style="/);
  });

  it('allows uploads to the local S3 endpoint when the SDK is pointed at one', async () => {
    const page = await get(local);
    expect(page.headers?.['content-security-policy']).toContain("connect-src 'self' http://127.0.0.1:45123;");
  });

  it('stays under 50 KB gzipped', async () => {
    const page = await get(handler);
    expect(gzipSync(page.body).byteLength).toBeLessThan(PAGE_BUDGET_GZIP_BYTES);
  });

  describe('GET /capture/assets/{file}: the face detector', () => {
    const asset = async (file: string | undefined) => {
      const event = { ...restEvent('GET', `/capture/assets/${file}`, { body: null, headers: {} }), resource: '/capture/assets/{file}', pathParameters: file === undefined ? null : { file } };
      const answer = (await handler(event, lambdaContext(5000))) as APIGatewayProxyResult;
      const headers = Object.fromEntries(Object.entries(answer.headers ?? {}).map(([key, value]) => [key.toLowerCase(), String(value)]));
      await expectDocumented({ method: 'GET', path: event.path, status: answer.statusCode, headers, body: answer.isBase64Encoded === true || headers['content-type']?.startsWith('application/json') !== true ? '' : answer.body });
      return answer;
    };
    const assets: Record<string, { contentType: string }> = page.assets;
    const names = () => Object.keys(assets);

    it('serves each built file with its type, for good (content-hashed names), binary files as base64', async () => {
      for (const name of names()) {
        const answer = await asset(name);
        const expected = readFileSync(new URL(`../../.build/capture-assets/${name}`, import.meta.url));
        expect(answer.statusCode, name).toBe(200);
        expect(answer.headers, name).toMatchObject({ 'content-type': assets[name]?.contentType, 'cache-control': 'public, max-age=31536000, immutable', 'x-content-type-options': 'nosniff' });
        expect(Buffer.from(answer.body, answer.isBase64Encoded === true ? 'base64' : 'utf8').equals(expected), name).toBe(true);
        expect(answer.isBase64Encoded, name).toBe(/\.(bin|wasm)$/.test(name));
      }
    });

    it('gives the worker a policy of its own: WebAssembly, and requests to its own origin, nothing else', async () => {
      const worker = names().find((name) => name.startsWith('detector-'));
      expect((await asset(worker)).headers?.['content-security-policy']).toBe("default-src 'none'; script-src 'wasm-unsafe-eval'; connect-src 'self'");
      // The page names exactly that worker.
      expect((await get(handler)).body).toContain(worker);
    });

    it('answers 404 NOT_FOUND for any other name', async () => {
      for (const name of ['detector.js', '../capture-page.json', '__proto__', 'constructor', undefined]) {
        const answer = await asset(name);
        expect(answer.statusCode, String(name)).toBe(404);
        expect(JSON.parse(answer.body)).toMatchObject({ code: 404, sub_code: 'NOT_FOUND' });
      }
    });
  });
});

import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { lambdaContext, loadFunction, restEvent, type RestHandler } from '../support/lambda.ts';

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
  const event = restEvent('GET', '/capture', { body: null, headers: {} });
  const result = (await fn(event, lambdaContext(5000))) as APIGatewayProxyResult;
  return { ...result, requestId: event.requestContext.requestId };
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

  it('loads nothing from elsewhere: one inline script and style, allowed by their hashes and by nothing else', async () => {
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
      'require-trusted-types-for': "'script'",
      'trusted-types': "'none'",
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
});

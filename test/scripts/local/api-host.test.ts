import { connect } from 'node:net';
import { request as httpRequest } from 'node:http';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RelayMetrics } from '../../../lib/platform/metrics.ts';
import { MAX_BODY_BYTES, startApiHost, type ApiFunction, type ApiHost, type ApiRoute } from '../../../scripts/local/api-host.ts';
import type { LambdaHandler } from '../../../scripts/local/lambda.ts';
import { captureOutput, type CapturedOutput } from '../../support/output.ts';

/**
 * The local API host with functions made for the test: routing from serverless.yml's path
 * syntax, the proxy event and answer, every answer the host makes itself, and the gate.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const json = (statusCode: number, body: unknown, headers: Record<string, string> = {}) => ({
  statusCode,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

const fn = (key: string, handler: LambdaHandler, timeoutSeconds = 10): ApiFunction => ({
  settings: { key, name: `test-${key}`, timeoutSeconds, memorySize: 256 },
  handler,
});

/** The slow function: each call waits until the test lets it go. */
const held: Array<() => void> = [];
const slow = fn('slow', () => new Promise((resolve) => held.push(() => resolve(json(200, { done: true })))));
const echo = fn('echo', async (event) => json(200, event as APIGatewayProxyEvent));

const routes: ApiRoute[] = [
  { method: 'GET', path: '/v1/things/{id}', cors: undefined, fn: echo },
  { method: 'GET', path: '/v1/things/special', cors: undefined, fn: fn('special', async () => json(200, { special: true })) },
  { method: 'GET', path: '/v1/files/{key+}', cors: undefined, fn: echo },
  { method: 'POST', path: '/v1/binary', cors: undefined, fn: echo },
  {
    method: 'GET',
    path: '/capture',
    cors: undefined,
    fn: fn('page', async () => ({ statusCode: 200, headers: { 'Content-Type': 'text/html; charset=utf-8' }, body: '<!doctype html><title>capture</title>' })),
  },
  { method: 'POST', path: '/v1/slow', cors: undefined, fn: slow },
  {
    method: 'POST',
    path: '/v1/cors',
    cors: { origins: ['https://app.example'], headers: ['Content-Type'], allowCredentials: false },
    fn: echo,
  },
  { method: 'POST', path: '/v1/crash', cors: undefined, fn: fn('crash', async () => Promise.reject(new Error('boom'))) },
  { method: 'POST', path: '/v1/hang', cors: undefined, fn: fn('hang', () => new Promise(() => undefined), 1) },
  { method: 'POST', path: '/v1/malformed', cors: undefined, fn: fn('malformed', async () => ({ statusCode: '200', body: {} })) },
  { method: 'ANY', path: '/v1/any', cors: undefined, fn: echo },
];

/** Room for one body of the largest size, not for two of 7 MiB. */
const READING_BUDGET = MAX_BODY_BYTES + 2 * 1024 * 1024;

let host: ApiHost;
let output: CapturedOutput;
const logged: string[] = [];

beforeAll(async () => {
  host = await startApiHost({
    host: '127.0.0.1',
    port: 0,
    stage: 'local',
    routes,
    limits: { concurrency: 1, queueLength: 1, maxWaitMs: 300 },
    readingBudgetBytes: READING_BUDGET,
    binaryMediaTypes: ['image/*'],
    // The slow route stands for the check route here: its host-made answers are counted.
    checkRoute: { method: 'POST', path: '/v1/slow', metrics: new RelayMetrics({ namespace: 'HostTest' }), provider: 'sandbox' },
    region: 'eu-west-1',
    arrival: { headersMs: 500, requestMs: 1000 },
    log: (message) => logged.push(message),
  });
});
afterAll(() => host?.close());
beforeEach(() => {
  output?.restore();
  output = captureOutput();
  return () => output.restore();
});

async function call(method: string, path: string, options: { body?: string | Buffer; headers?: Record<string, string> } = {}) {
  const answer = await request(`${host.url}${path}`, { method: method as 'GET', body: options.body, headers: options.headers });
  const text = await answer.body.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: answer.statusCode, headers: answer.headers, body };
}

/**
 * Writes `raw` on a fresh connection (then one byte of `drip` every 100 ms, when given) and reads
 * everything until the server closes it.
 */
function rawExchange(raw: string, options: { thenWaitMs?: number; drip?: string } = {}): Promise<{ text: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const url = new URL(host.url);
    const socket = connect(Number(url.port), url.hostname, () => socket.write(raw));
    let dripped = 0;
    const dripping = setInterval(() => {
      if (options.drip !== undefined && dripped < options.drip.length && socket.writable) socket.write(options.drip.charAt((dripped += 1) - 1));
    }, 100);
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('close', () => {
      clearInterval(dripping);
      resolve({ text, ms: Date.now() - started });
    });
    socket.on('error', reject);
    socket.setTimeout(options.thenWaitMs ?? 10_000, () => socket.destroy());
  });
}

const envelopeOf = (text: string) => JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;

function expectEnvelope(answer: { status: number; headers: Record<string, unknown>; body: Record<string, unknown> }, status: number, subCode: string) {
  expect(answer.status).toBe(status);
  expect(answer.headers['content-type']).toBe('application/json');
  expect(answer.headers['x-request-id']).toMatch(UUID);
  expect(answer.body).toEqual({ code: status, timestamp: expect.any(Number), transaction_id: expect.stringMatching(UUID), sub_code: subCode, message: expect.any(String) });
}

describe('local API host: routes from serverless.yml', () => {
  it('hands a function the REST API proxy event, path parameters still encoded', async () => {
    const { status, body } = await call('GET', '/v1/things/a%20b?x=1&x=2&y=z', { headers: { 'X-Custom': 'one' } });
    expect(status).toBe(200);
    expect(body).toMatchObject({
      resource: '/v1/things/{id}',
      path: '/v1/things/a%20b',
      httpMethod: 'GET',
      pathParameters: { id: 'a%20b' },
      queryStringParameters: { x: '2', y: 'z' },
      multiValueQueryStringParameters: { x: ['1', '2'], y: ['z'] },
      headers: { 'X-Custom': 'one' },
      body: null,
      isBase64Encoded: false,
      requestContext: { stage: 'local', resourcePath: '/v1/things/{id}', path: '/local/v1/things/a%20b', requestId: expect.stringMatching(UUID), identity: { sourceIp: '127.0.0.1', apiKey: null } },
    });
  });

  it('prefers a literal path to a parameter, and takes every segment into a greedy parameter', async () => {
    expect((await call('GET', '/v1/things/special')).body).toEqual({ special: true });
    expect((await call('GET', '/v1/files/uploads/Zo%C3%AB/selfie.jpg')).body).toMatchObject({ pathParameters: { key: 'uploads/Zo%C3%AB/selfie.jpg' } });
    expectEnvelope(await call('GET', '/v1/files/'), 404, 'NOT_FOUND');
  });

  it('serves what a function answers, HTML included, and base64 bodies of binary media types', async () => {
    const page = await request(`${host.url}/capture`);
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(await page.body.text()).toBe('<!doctype html><title>capture</title>');

    const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0xff, 0x00]);
    const { body } = await call('POST', '/v1/binary', { body: bytes, headers: { 'content-type': 'image/png' } });
    expect(body).toMatchObject({ body: bytes.toString('base64'), isBase64Encoded: true });
    const any = await call('DELETE', '/v1/any', { body: 'text', headers: { 'content-type': 'text/plain' } });
    expect(any.body).toMatchObject({ httpMethod: 'DELETE', body: 'text', isBase64Encoded: false });
  });
});

describe('local API host: its own answers are envelopes', () => {
  it('no such route: 404 NOT_FOUND, nothing listed', async () => {
    const answer = await call('GET', '/2015-03-31/functions/echo/invocations');
    expectEnvelope(answer, 404, 'NOT_FOUND');
    expect(JSON.stringify(answer.body)).not.toContain('/v1/');
  });

  it('another method: 405 METHOD_NOT_ALLOWED with Allow; a cors route answers its preflight', async () => {
    const wrong = await call('PUT', '/v1/things/abc');
    expectEnvelope(wrong, 405, 'METHOD_NOT_ALLOWED');
    expect(wrong.headers.allow).toBe('GET');
    expectEnvelope(await call('OPTIONS', '/v1/slow'), 405, 'METHOD_NOT_ALLOWED');

    const preflight = await request(`${host.url}/v1/cors`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
    await preflight.body.dump();
    expect(preflight.statusCode).toBe(200);
    expect(preflight.headers).toMatchObject({ 'access-control-allow-origin': 'https://app.example', 'access-control-allow-methods': 'POST,OPTIONS', 'access-control-allow-headers': 'Content-Type' });
  });

  it(`a body over ${MAX_BODY_BYTES} bytes: 413 PAYLOAD_TOO_LARGE, declared or streamed`, async () => {
    const declared = await rawExchange(`POST /v1/binary HTTP/1.1\r\nHost: x\r\nContent-Length: ${MAX_BODY_BYTES + 1}\r\n\r\n`);
    expect(declared.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(envelopeOf(declared.text)).toMatchObject({ code: 413, sub_code: 'PAYLOAD_TOO_LARGE' });

    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const outgoing = httpRequest(`${host.url}/v1/binary`, { method: 'POST', headers: { 'content-type': 'image/png' } });
      outgoing.on('response', (response) => {
        let body = '';
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
      outgoing.on('error', reject);
      const chunk = Buffer.alloc(1024 * 1024);
      for (let written = 0; written <= MAX_BODY_BYTES; written += chunk.byteLength) outgoing.write(chunk);
      outgoing.end();
    });
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body)).toMatchObject({ code: 413, sub_code: 'PAYLOAD_TOO_LARGE' });
  });

  it('malformed HTTP: 400 INVALID_REQUEST with an x-request-id, counted when the check route was meant', async () => {
    const garbage = await rawExchange('HELLO\r\n\r\n');
    expect(garbage.text).toMatch(/^HTTP\/1\.1 400 /);
    expect(garbage.text).toMatch(/\r\nx-request-id: [0-9a-f-]{36}\r\n/);
    expect(envelopeOf(garbage.text)).toMatchObject({ code: 400, sub_code: 'INVALID_REQUEST' });
    expect(output.checkRecords()).toEqual([]);

    const badHeader = await rawExchange('POST /v1/slow HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n');
    expect(badHeader.text).toMatch(/^HTTP\/1\.1 400 /);
    expect(badHeader.text).toMatch(/\r\nx-liveness-provider: sandbox\r\n/);
    expect(output.checkRecords()).toEqual([{ namespace: 'HostTest', subCode: 'INVALID_REQUEST', source: 'api' }]);
  });

  it('a Host header that names no host and port, or two of them: 400 INVALID_REQUEST before any function runs', async () => {
    for (const hostLines of ['Host: a b\r\n', 'Host: x/y\r\n', 'Host: x?y\r\n', 'Host: u@x\r\n', 'Host: [::1\r\n', 'Host: x:1:2\r\n', 'Host: \r\n', 'Host: x\r\nHOST: x\r\n']) {
      const answer = await rawExchange(`GET /v1/things/1 HTTP/1.1\r\n${hostLines}Connection: close\r\n\r\n`);
      expect(answer.text, hostLines).toMatch(/^HTTP\/1\.1 400 /);
      expect(envelopeOf(answer.text)).toMatchObject({ code: 400, sub_code: 'INVALID_REQUEST' });
    }
    for (const name of ['relay', 'relay.example.', '127.0.0.1:3000', '[::1]:3000', 'xn--bcher-kva.example', 'a%2Db']) {
      const { status, body } = await call('GET', '/v1/things/1', { headers: { host: name } });
      expect(status, name).toBe(200);
      // The event names the host's own address as the API's domain, whatever the request's Host.
      expect(body).toMatchObject({ headers: { host: name }, requestContext: { domainName: new URL(host.url).host } });
    }
  });

  it('a body that stalls, or drips: 408 INVALID_REQUEST once the request time is up', async () => {
    const stalled = await rawExchange('POST /v1/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"image":"abc');
    expect(stalled.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(envelopeOf(stalled.text)).toMatchObject({ code: 408, sub_code: 'INVALID_REQUEST' });
    expect(stalled.ms).toBeLessThan(2500);
    expect(output.checkRecords()).toEqual([{ namespace: 'HostTest', subCode: 'INVALID_REQUEST', source: 'api' }]);
    expect(held).toHaveLength(0);

    const dripped = await rawExchange('POST /v1/binary HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n', { drip: 'x'.repeat(100) });
    expect(dripped.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(dripped.ms).toBeLessThan(2500);

    const headersOnly = await rawExchange('GET /v1/things/a HTTP/1.1\r\nHost: x\r\n');
    expect(headersOnly.text).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('a function that throws, never answers, or answers a malformed result: 502 INTERNAL_SERVER_ERROR', async () => {
    expectEnvelope(await call('POST', '/v1/crash'), 502, 'INTERNAL_SERVER_ERROR');
    const started = Date.now();
    expectEnvelope(await call('POST', '/v1/hang'), 502, 'INTERNAL_SERVER_ERROR');
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expectEnvelope(await call('POST', '/v1/malformed'), 502, 'INTERNAL_SERVER_ERROR');
    expect(logged.join('\n')).toMatch(/crash failed .*boom[\s\S]*hang timed out after 1 s[\s\S]*malformed returned a malformed/);
  });
});

describe('local API host: bounded like reserved concurrency', () => {
  it('runs one at a time, queues one, refuses the rest with 429 and Retry-After, and ends a wait that is too long', async () => {
    const first = call('POST', '/v1/slow', { body: '{}' });
    await expect.poll(() => held.length).toBe(1);
    const queued = call('POST', '/v1/slow', { body: '{}' });
    await new Promise((resolve) => setTimeout(resolve, 50));

    const refused = await call('POST', '/v1/slow', { body: '{}' });
    expectEnvelope(refused, 429, 'RATE_LIMITED');
    expect(refused.headers['retry-after']).toBe('1');

    const waitedTooLong = await queued;
    expectEnvelope(waitedTooLong, 429, 'RATE_LIMITED');
    expect(waitedTooLong.headers['retry-after']).toBe('1');
    // The other functions have slots of their own.
    expect((await call('GET', '/v1/things/special')).status).toBe(200);

    held.shift()?.();
    expect((await first).status).toBe(200);
    const again = call('POST', '/v1/slow', { body: '{}' });
    await expect.poll(() => held.length).toBe(1);
    held.shift()?.();
    expect((await again).status).toBe(200);
    // One record per host-made answer of the counted route; the function's own answers are its to count.
    expect(output.checkRecords()).toEqual([
      { namespace: 'HostTest', subCode: 'RATE_LIMITED', source: 'api' },
      { namespace: 'HostTest', subCode: 'RATE_LIMITED', source: 'api' },
    ]);
  });
});

describe('local API host: a body is read before a slot is taken, as API Gateway reads it before invoking', () => {
  it('clients dripping their bodies hold no slot or place in the queue: another request is served meanwhile', async () => {
    const head = 'POST /v1/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n';
    // One slot and one place in the queue: two would fill them if they were taken on arrival.
    const drips = [1, 2, 3].map(() => rawExchange(head, { drip: 'x'.repeat(100) }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const served = call('POST', '/v1/slow', { body: '{}' });
    await expect.poll(() => held.length).toBe(1);
    held.shift()?.();
    expect((await served).status).toBe(200);
    for (const drip of await Promise.all(drips)) expect(drip.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(held).toHaveLength(0);
  });

  it('refuses a body that would take what the bodies still arriving hold past the reading budget: 429 RATE_LIMITED with Retry-After', async () => {
    const sevenMiB = 'x'.repeat(7 * 1024 * 1024);
    const head = `POST /v1/binary HTTP/1.1\r\nHost: x\r\nContent-Length: ${8 * 1024 * 1024}\r\n\r\n`;
    // The first stalls one MiB short, holding 7 MiB until the request time is up.
    const first = rawExchange(`${head}${sevenMiB}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const second = await rawExchange(`${head}${sevenMiB}`);
    expect(second.text).toMatch(/^HTTP\/1\.1 429 /);
    expect(second.text).toMatch(/\r\nretry-after: 1\r\n/);
    expect(envelopeOf(second.text)).toMatchObject({ code: 429, sub_code: 'RATE_LIMITED' });
    expect((await first).text).toMatch(/^HTTP\/1\.1 408 /);
    // Given back: a body of the largest size is read again.
    const { body } = await call('POST', '/v1/binary', { body: Buffer.alloc(MAX_BODY_BYTES), headers: { 'content-type': 'image/png' } });
    expect(body).toMatchObject({ isBase64Encoded: true });
  });
});

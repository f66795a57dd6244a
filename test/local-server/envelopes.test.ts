import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoadTarget, type LoadTarget } from '../../bench/load.ts';
import { faults } from '../support/deepvue-emulator.ts';
import type { LocalServer, RawAnswer } from '../support/local-server.ts';

/**
 * Every row of the contract's table of gateway answers that a local server can produce, as
 * `npm start` answers it over real HTTP: an envelope with the contract's status and sub_code, an
 * x-request-id, and one LivenessCheck record whenever POST /v1/liveness-check was meant. The
 * server runs with one invocation in flight and one waiting per function, so that a second and a
 * third request find it full.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const CHECK = '/v1/liveness-check';
const GOOD_BODY = JSON.stringify({ image: 'https://images.example.com/selfie.jpg?sandbox=live' });

let target: LoadTarget;
let server: LocalServer;

beforeAll(async () => {
  target = await startLoadTarget({}, { LOCAL_CONCURRENCY: '1', LOCAL_QUEUE_LENGTH: '1', LOCAL_QUEUE_WAIT_MS: '1000', UPSTREAM_DEADLINE_MS: '3000' });
  server = target.server;
}, 120_000);
afterAll(() => target?.stop());

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

async function call(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  const answer = await server.request(path, { method, body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: answer.status, headers: answer.headers, body: answer.body as Record<string, unknown> };
}

function expectEnvelope(answer: Answer, status: number, subCode: string): void {
  expect(answer.status).toBe(status);
  expect(answer.headers['content-type']).toMatch(/^application\/json\b/);
  expect(answer.headers['x-request-id']).toMatch(UUID);
  expect(answer.body).toMatchObject({ code: status, timestamp: expect.any(Number), transaction_id: expect.stringMatching(UUID), sub_code: subCode, message: expect.any(String) });
}

/** The sandbox's SUCCESS relayed as Deepvue documents it: `timestamp` and `score` null. */
function expectRelayedSuccess(answer: Answer): void {
  expect(answer.status).toBe(200);
  expect(answer.headers['x-request-id']).toMatch(UUID);
  expect(answer.body).toMatchObject({ code: 200, timestamp: null, sub_code: 'SUCCESS', data: { is_live: true, score: null } });
}

/** The LivenessCheck records printed while `act` ran (and shortly after). */
async function recordsOf(act: () => Promise<void>, expected: number): Promise<unknown[]> {
  const before = server.checkRecords().length;
  await act();
  await expect.poll(() => server.checkRecords().length - before).toBeGreaterThanOrEqual(expected);
  await new Promise((resolve) => setTimeout(resolve, 300));
  return server.checkRecords().slice(before).map((record) => record.subCode);
}

describe('npm start answers what API Gateway would answer itself with envelopes', () => {
  it('no such route: 404 NOT_FOUND, no list of routes, no Lambda invoke routes, no stage prefix', async () => {
    // (`/` leads to the API reference: test/local-server/docs.test.ts.)
    for (const [method, path] of [
      ['GET', '/v1'],
      ['GET', '/v1/nope'],
      ['POST', '/2015-03-31/functions/livenessCheck/invocations'],
      ['POST', '/local/v1/liveness-check'],
      ['GET', '/v1/liveness-results/'],
    ] as const) {
      const answer = await call(method, path, method === 'POST' ? '{}' : undefined);
      expectEnvelope(answer, 404, 'NOT_FOUND');
      // serverless-offline listed every route here; the message names only the request.
      expect(answer.body.message).toBe(`no route ${method} ${path}`);
    }
  });

  it('a route that exists, another method: 405 METHOD_NOT_ALLOWED with Allow', async () => {
    const getCheck = await call('GET', CHECK);
    expectEnvelope(getCheck, 405, 'METHOD_NOT_ALLOWED');
    expect(getCheck.headers.allow).toBe('POST');
    const putResult = await call('PUT', '/v1/liveness-results/uploads/selfie.jpg');
    expectEnvelope(putResult, 405, 'METHOD_NOT_ALLOWED');
    expect(putResult.headers.allow).toBe('GET, DELETE');
  });

  it('a body over 10 MB: 413 PAYLOAD_TOO_LARGE from the server, counted once', async () => {
    let answer: Answer | undefined;
    const records = await recordsOf(async () => {
      answer = await call('POST', CHECK, Buffer.alloc(10 * 1024 * 1024 + 1, 0x20));
    }, 1);
    expectEnvelope(answer!, 413, 'PAYLOAD_TOO_LARGE');
    expect(answer!.headers['x-liveness-provider']).toBe('deepvue');
    expect(records).toEqual(['PAYLOAD_TOO_LARGE']);
  });

  it('malformed HTTP: 400 INVALID_REQUEST with an x-request-id, counted once on the check route', async () => {
    let answer: RawAnswer | undefined;
    const records = await recordsOf(async () => {
      answer = await server.rawExchange(`POST ${CHECK} HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: ten\r\n\r\n{}`);
    }, 1);
    expect(answer!.status).toBe(400);
    expect(answer!.head).toMatch(/\r\nx-request-id: [0-9a-f-]{36}\r\n/);
    expect(answer!.body).toMatchObject({ code: 400, sub_code: 'INVALID_REQUEST', transaction_id: expect.stringMatching(UUID) });
    expect(records).toEqual(['INVALID_REQUEST']);
  });

  it('a Host header that names no host and port, or two of them: 400 INVALID_REQUEST; any other leaves capture_url npm start\'s own', async () => {
    const open = (hostLines: string) => server.rawExchange(`POST /v1/liveness-sessions HTTP/1.1\r\n${hostLines}Content-Length: 0\r\nConnection: close\r\n\r\n`);
    for (const hostLines of ['Host: a b\r\n', 'Host: relay/capture\r\n', 'Host: user@relay\r\n', 'Host: [::g]\r\n', 'Host: relay:80:80\r\n', 'Host: relay\r\nhost: evil.example\r\n']) {
      const answer = await open(hostLines);
      expect(answer.status, hostLines).toBe(400);
      expect(answer.head).toMatch(/\r\nx-request-id: [0-9a-f-]{36}\r\n/);
      expect(answer.body).toMatchObject({ code: 400, sub_code: 'INVALID_REQUEST', message: 'the request must carry one Host header naming a host and port' });
    }
    for (const host of ['evil.example', 'evil.example:8443', '[::1]:3000']) {
      const opened = await call('POST', '/v1/liveness-sessions', '{}', { host });
      expect(opened.status, host).toBe(201);
      expect(opened.body.capture_url).toBe(`${server.url}/capture#${String(opened.body.session_id)}`);
    }
  });

  it('headers a strict parser refuses (a cookie or content type it cannot parse) reach the handler, whose answer is an envelope', async () => {
    expectRelayedSuccess(await call('POST', CHECK, GOOD_BODY, { cookie: ';;=;==x' }));
    expectRelayedSuccess(await call('POST', CHECK, GOOD_BODY, { 'content-type': 'application/json; charset' }));
  });

  it('a stalled body and a dripping one: 408 INVALID_REQUEST within 30 s, each counted once', async () => {
    let stalled: RawAnswer | undefined;
    let dripping: RawAnswer | undefined;
    const head = `POST ${CHECK} HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`;
    const records = await recordsOf(async () => {
      [stalled, dripping] = await Promise.all([server.rawExchange(`${head}{"image":"aGVsbG8`), server.rawExchange(head, `{"image":"${'A'.repeat(990)}"}`)]);
    }, 2);
    for (const answer of [stalled!, dripping!]) {
      expect(answer.status).toBe(408);
      expect(answer.body).toMatchObject({ code: 408, sub_code: 'INVALID_REQUEST' });
      expect(answer.head).toMatch(/\r\nx-request-id: [0-9a-f-]{36}\r\n/);
      expect(answer.ms).toBeLessThan(30_000);
    }
    expect(records).toEqual(['INVALID_REQUEST', 'INVALID_REQUEST']);
  }, 45_000);

  it('with every slot and place in the queue taken: 429 RATE_LIMITED with Retry-After at once, or once the wait is over', async () => {
    target.deepvue.inject(CHECK, faults.hang(), 1);
    const records = await recordsOf(async () => {
      const holding = call('POST', CHECK, GOOD_BODY);
      await expect.poll(() => target.deepvue.calls(CHECK).length).toBeGreaterThan(0);
      const waiting = call('POST', CHECK, GOOD_BODY);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const started = Date.now();
      const refused = await call('POST', CHECK, GOOD_BODY);
      expect(Date.now() - started).toBeLessThan(500);
      expectEnvelope(refused, 429, 'RATE_LIMITED');
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.headers['x-liveness-provider']).toBe('deepvue');

      const waited = await waiting;
      expectEnvelope(waited, 429, 'RATE_LIMITED');
      expect(waited.headers['retry-after']).toBe('1');
      // Another function is not held up by this one.
      expectEnvelope(await call('GET', '/v1/liveness-results/uploads%2Fnone.jpg'), 404, 'NOT_FOUND');
      expectEnvelope(await holding, 504, 'UPSTREAM_TIMEOUT');
    }, 3);
    expect(records.sort()).toEqual(['RATE_LIMITED', 'RATE_LIMITED', 'UPSTREAM_TIMEOUT']);
    expectRelayedSuccess(await call('POST', CHECK, GOOD_BODY));
  }, 30_000);

  it('reads a body before it takes a place, as API Gateway does: clients slow to send leave the others answered (POST /v1/authorize, which no function answers, as a check)', async () => {
    const { hostname, port } = new URL(server.url);
    const head = 'POST /v1/authorize HTTP/1.1\r\nHost: relay\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nclient_id=';
    const holding = await Promise.all(
      [1, 2].map(() => new Promise<Socket>((resolve, reject) => {
        const socket = connect(Number(port), hostname, () => socket.write(head, () => resolve(socket)));
        socket.on('error', reject);
      })),
    );
    // One place in flight and one in the queue here: two bodies still arriving would fill them if they took them.
    const dripping = await Promise.all(
      [1, 2].map(() => new Promise<Socket>((resolve, reject) => {
        const socket = connect(Number(port), hostname, () => socket.write(`POST ${CHECK} HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`, () => resolve(socket)));
        socket.on('error', reject);
      })),
    );
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await call('POST', '/v1/authorize', 'client_id=a&client_secret=b', { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(200);
      expectRelayedSuccess(await call('POST', CHECK, GOOD_BODY));
    } finally {
      for (const socket of [...holding, ...dripping]) socket.destroy();
    }
  });
});

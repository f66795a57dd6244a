import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { authorizeForm, DeepvueClient, parseRetryAfter, UpstreamFailure, UpstreamUnauthorized, type UpstreamStats } from '../../../lib/deepvue/client.ts';
import { RENEW_MARGIN_MS } from '../../../lib/deepvue/tokens/cache.ts';
import { AUTHORIZE, CHECK, documented, faults, startDeepvueEmulator, type DeepvueEmulator, type Fault } from '../../support/deepvue-emulator.ts';
import { startClientHelloReader } from '../../support/tls-client-hello.ts';

const CREDENTIALS = { clientId: 'relay-client', clientSecret: 'relay-secret' };
const IMAGE = 'https://images.example.com/selfie.jpg';

let deepvue: DeepvueEmulator;
let client: DeepvueClient;
let token: string;

beforeAll(async () => {
  deepvue = await startDeepvueEmulator({ clients: { [CREDENTIALS.clientId]: CREDENTIALS.clientSecret } });
  // Short backoff: these tests count attempts; the handler's tests time the real policy.
  client = new DeepvueClient({ baseUrl: deepvue.baseUrl, retry: { baseDelayMs: 20, maxDelayMs: 100 }, bodyTimeoutMs: 300 });
  token = (await client.authorize(CREDENTIALS, Date.now() + 5000)).value;
});
afterAll(async () => {
  await client.close();
  await deepvue.close();
});
beforeEach(() => deepvue.clearCalls());

const newStats = (): UpstreamStats => ({ attempts: 0, latencyMs: 0 });
const check = (deadlineMs = 5000, stats = newStats()) =>
  client.checkLiveness({ kind: 'url', value: IMAGE }, token, CREDENTIALS.clientSecret, Date.now() + deadlineMs, stats);
/** The failure `run` rejects with; fails the test if it resolves. */
const failureOf = async (run: Promise<unknown>): Promise<UpstreamFailure> => {
  const error = await run.then(() => undefined, (rejection: unknown) => rejection);
  expect(error).toBeInstanceOf(UpstreamFailure);
  return error as UpstreamFailure;
};

describe('authorize', () => {
  it('posts the credentials as multipart/form-data and times the token from its expiry', async () => {
    const before = Date.now();
    const issued = await client.authorize(CREDENTIALS, Date.now() + 5000);
    const [call] = deepvue.calls(AUTHORIZE);
    expect(call?.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(call?.body).toEqual({ client_id: CREDENTIALS.clientId, client_secret: CREDENTIALS.clientSecret });
    expect(issued.expiresAt - before).toBeGreaterThan(24 * 3600_000 - 5000);
    expect(issued.expiresAt - issued.renewAt).toBe(RENEW_MARGIN_MS);
  });

  it('writes a form any multipart parser reads back exactly, whatever the credentials hold', async () => {
    const tricky = { clientId: 'client "é" ; name="x"', clientSecret: '--secret--\r\n--liveness-relay-0\r\n€ 🙂' };
    const form = authorizeForm(tricky);
    const parsed = await new Response(new Uint8Array(form.body), { headers: { 'content-type': form.contentType } }).formData();
    expect([...parsed.entries()]).toEqual([['client_id', tricky.clientId], ['client_secret', tricky.clientSecret]]);
    expect(authorizeForm(tricky).contentType).not.toBe(form.contentType);
  });

  const SIX_HOURS = 6 * 3600_000;
  it.each<[string, (at: number) => unknown, (at: number) => number]>([
    ['ISO-8601 with a zone', (at) => new Date(at).toISOString(), (at) => at],
    ['ISO-8601 with an offset', (at) => new Date(at + 5.5 * 3600_000).toISOString().replace('Z', '+05:30'), (at) => at],
    ['ISO-8601 without a zone (read as UTC)', (at) => new Date(at).toISOString().slice(0, -1), (at) => at],
    ['epoch seconds', (at) => Math.floor(at / 1000), (at) => Math.floor(at / 1000) * 1000],
    ['epoch milliseconds', (at) => at, (at) => at],
  ])('reads an authorize answer whose expiry is %s', async (_, expiry, expected) => {
    const at = Date.now() + SIX_HOURS;
    deepvue.inject(AUTHORIZE, { kind: 'reply', status: 200, body: { access_token: 'a.b.c', token_type: 'bearer', expiry: expiry(at) } });
    const issued = await client.authorize(CREDENTIALS, Date.now() + 5000);
    expect(issued).toEqual({ value: 'a.b.c', expiresAt: expected(at), renewAt: expected(at) - RENEW_MARGIN_MS });
  });

  it.each([['absent', {}], ['null', { expiry: null }], ['garbage', { expiry: 'soon' }]])(
    'gives a token whose expiry is %s 24 hours, renewed after 23', async (_, expiry) => {
      deepvue.inject(AUTHORIZE, { kind: 'reply', status: 200, body: { access_token: 'a.b.c', token_type: 'bearer', ...expiry } });
      const before = Date.now();
      const issued = await client.authorize(CREDENTIALS, Date.now() + 5000);
      const after = Date.now();
      expect(issued.expiresAt - 24 * 3600_000).toBeGreaterThanOrEqual(before);
      expect(issued.expiresAt - 24 * 3600_000).toBeLessThanOrEqual(after);
      expect(issued.expiresAt - issued.renewAt).toBe(3600_000);
    },
  );

  it.each<[string, Fault]>([
    ['401 Not authenticated', faults.notAuthenticated()],
    ['400 Inactive client_id', faults.inactiveClient()],
    ['403 Forbidden', faults.forbidden()],
  ])('turns %s into UPSTREAM_AUTH_FAILED without retrying', async (_, fault) => {
    deepvue.inject(AUTHORIZE, fault);
    expect((await failureOf(client.authorize(CREDENTIALS, Date.now() + 5000))).subCode).toBe('UPSTREAM_AUTH_FAILED');
    expect(deepvue.calls(AUTHORIZE)).toHaveLength(1);
  });

  it('turns a 5xx envelope that outlasts the retries into UPSTREAM_UNAVAILABLE', async () => {
    deepvue.inject(AUTHORIZE, faults.serverError(), 3);
    const failure = await failureOf(client.authorize(CREDENTIALS, Date.now() + 5000));
    expect(failure.subCode).toBe('UPSTREAM_UNAVAILABLE');
    expect(failure.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(deepvue.calls(AUTHORIZE)).toHaveLength(3);
  });

  it('keeps the path of a base URL', async () => {
    const prefixed = new DeepvueClient({ baseUrl: `${deepvue.baseUrl}/deepvue/` });
    await prefixed.authorize(CREDENTIALS, Date.now() + 5000);
    await prefixed.close();
    expect(deepvue.calls().map((call) => call.path)).toEqual(['/deepvue/v1/authorize']);
  });
});

describe('connections', () => {
  // The bundles leave undici's HTTP/2 client out (deploy/esbuild-plugins.cjs): were h2 offered
  // and chosen by Deepvue, every check would fail.
  it('offer Deepvue HTTP/1.1 only in the TLS handshake', async () => {
    const reader = await startClientHelloReader();
    const overTls = new DeepvueClient({ baseUrl: `https://127.0.0.1:${reader.port}`, retry: { maxAttempts: 1 } });
    try {
      await expect(overTls.authorize(CREDENTIALS, Date.now() + 5000)).rejects.toBeInstanceOf(UpstreamFailure);
      expect(await reader.offered).toEqual(['http/1.1']);
    } finally {
      await overTls.close();
      await reader.close();
    }
  });
});

describe('checkLiveness', () => {
  it('sends the token, the API key and the image as documented, once', async () => {
    const stats = newStats();
    const answer = await check(5000, stats);
    expect(answer.status).toBe(200);
    expect(answer.envelope).toMatchObject({ sub_code: 'SUCCESS', data: { is_live: true } });
    const [call] = deepvue.calls(CHECK);
    expect(call?.headers).toMatchObject({ authorization: `Bearer ${token}`, 'x-api-key': CREDENTIALS.clientSecret, 'content-type': 'application/json' });
    expect(call?.body).toEqual({ image: IMAGE });
    expect(stats.attempts).toBe(1);
  });

  it('raises UpstreamUnauthorized on 401, without retrying', async () => {
    deepvue.inject(CHECK, faults.invalidToken());
    await expect(check()).rejects.toBeInstanceOf(UpstreamUnauthorized);
    expect(deepvue.calls(CHECK)).toHaveLength(1);
  });

  it.each<[string, Fault]>([
    ['429', faults.rateLimited(0)],
    ['503', faults.unavailable()],
    ['a 500 envelope', faults.serverError()],
    ['a connection reset', faults.reset()],
    ['a stalled body (body timeout)', faults.stall()],
  ])('retries %s and counts every attempt', async (_, fault) => {
    deepvue.inject(CHECK, fault, 2);
    const stats = newStats();
    expect((await check(5000, stats)).envelope.sub_code).toBe('SUCCESS');
    expect(stats.attempts).toBe(3);
    expect(deepvue.calls(CHECK)).toHaveLength(3);
  });

  it('waits at least the Retry-After Deepvue asks for', async () => {
    deepvue.inject(CHECK, faults.rateLimited(1));
    await check();
    const [first, second] = deepvue.calls(CHECK);
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(1000);
  });

  it('gives up at once when the wait would pass the deadline, passing Retry-After on', async () => {
    deepvue.inject(CHECK, faults.rateLimited(30));
    const failure = await failureOf(check(2000));
    expect(failure).toMatchObject({ subCode: 'RATE_LIMITED', retryAfterSeconds: 30 });
    expect(deepvue.calls(CHECK)).toHaveLength(1);
  });

  it.each<[string, Fault]>([
    ['a hang', faults.hang()],
    ['a body dripping slower than the deadline', faults.drip(50)],
  ])('ends %s at the deadline with UPSTREAM_TIMEOUT', async (_, fault) => {
    deepvue.inject(CHECK, fault);
    const started = Date.now();
    expect((await failureOf(check(1200))).subCode).toBe('UPSTREAM_TIMEOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1190);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(deepvue.calls(CHECK)).toHaveLength(1);
  });

  // undici runs its own timeouts on coarse timers (about half a second): a hang must still end
  // exactly at the deadline, as a timeout, never as a network failure retried in the last moment.
  it.each([1100, 1300, 1500, 1700, 1900])('waits out a hang to the deadline, then UPSTREAM_TIMEOUT, with a %i ms deadline', async (deadlineMs) => {
    deepvue.inject(CHECK, faults.hang());
    const started = Date.now();
    expect((await failureOf(check(deadlineMs))).subCode).toBe('UPSTREAM_TIMEOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(deadlineMs - 10);
    expect(deepvue.calls(CHECK)).toHaveLength(1);
  });

  it.each<[string, Fault]>([
    ['a body that is not JSON', faults.notJson()],
    ['a body far larger than any envelope', documented('liveness-face-not-detected', { message: 'x'.repeat(100_000) })],
  ])('answers UPSTREAM_ERROR to %s, without retrying', async (_, fault) => {
    deepvue.inject(CHECK, fault);
    expect((await failureOf(check())).subCode).toBe('UPSTREAM_ERROR');
    expect(deepvue.calls(CHECK)).toHaveLength(1);
  });
});

describe('parseRetryAfter', () => {
  it.each<[string | undefined, number | undefined]>([
    ['3', 3000],
    [' 0 ', 0],
    [undefined, undefined],
    ['', undefined],
    ['soon', undefined],
    [new Date(Date.now() - 60_000).toUTCString(), 0],
  ])('reads %j as %j ms', (header, expected) => {
    expect(parseRetryAfter(header)).toBe(expected);
  });

  it('reads an HTTP date as the time until it', () => {
    const delay = parseRetryAfter(new Date(Date.now() + 10_000).toUTCString());
    expect(delay).toBeGreaterThan(8000);
    expect(delay).toBeLessThanOrEqual(10_000);
  });
});

import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { parseUpstreamEnvelope, type Envelope } from '../platform/envelope.ts';
import type { Credentials } from './credentials.ts';
import { tokenTimes, type AccessToken } from './tokens/cache.ts';
import { Pool, requestThrough } from './undici.ts';

/**
 * The `image` of a liveness check as Deepvue takes it: an image URL, or the image's bytes in
 * standard base64. Declared here rather than taken from lib/check/image.ts (whose PreparedImage
 * is one), so that Deepvue's side imports nothing of the check.
 */
export interface UpstreamImage {
  kind: 'url' | 'base64';
  value: string;
}

/** An upstream answer carrying a `sub_code`, relayed to the caller as Deepvue sent it. */
export interface UpstreamAnswer {
  status: number;
  envelope: Envelope;
}

export type UpstreamFailureCode =
  | 'UPSTREAM_AUTH_FAILED'
  | 'RATE_LIMITED'
  | 'UPSTREAM_UNAVAILABLE'
  | 'UPSTREAM_ERROR'
  | 'UPSTREAM_TIMEOUT';

/** The upstream could not give a usable answer; `subCode` says how the relay answers instead. */
export class UpstreamFailure extends Error {
  override readonly name = 'UpstreamFailure';
  readonly subCode: UpstreamFailureCode;
  readonly retryAfterSeconds: number | undefined;

  constructor(subCode: UpstreamFailureCode, message: string, retryAfterSeconds?: number) {
    super(message);
    this.subCode = subCode;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Deepvue answered 401 to a liveness check: the token must be dropped and renewed. */
export class UpstreamUnauthorized extends Error {
  override readonly name = 'UpstreamUnauthorized';
}

/** Upstream work of one check, for metrics and logs. */
export interface UpstreamStats {
  /** HTTP requests sent to `/v1/liveness-check`, retries included. */
  attempts: number;
  /** Time spent in liveness-check calls, backoff included, waits for the rate limiter not. */
  latencyMs: number;
}

export interface RetryPolicy {
  /** Attempts per call, the first included; 1 disables retries. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface DeepvueClientOptions {
  /** e.g. `https://production.deepvue.tech`; a path prefix is kept. */
  baseUrl: string;
  retry?: Partial<RetryPolicy>;
  connectTimeoutMs?: number;
  /** Longest silence between two chunks of a response body. */
  bodyTimeoutMs?: number;
  /** Largest upstream response read; Deepvue's envelopes are a few hundred bytes. */
  maxResponseBytes?: number;
  /** Defaults to one keep-alive pool per client, i.e. per container. */
  dispatcher?: Dispatcher;
  /**
   * Awaited before every liveness-check request, retries included: where the plan's rate limiter
   * admits the call (or throws, and no request is sent) and the call is counted.
   */
  beforeCall?: (deadlineAt: number) => Promise<void>;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 2000 };

type Exchange =
  | { kind: 'response'; status: number; retryAfterMs: number | undefined; body: string }
  | { kind: 'network'; detail: string }
  | { kind: 'timeout' };

/**
 * Deepvue's passive face liveness API over one undici keep-alive pool: authorize and
 * liveness-check, each retried on 429, 5xx and network failures with exponential backoff and
 * full jitter, honouring `Retry-After`, and never past the caller's deadline.
 *
 * @example
 * const client = new DeepvueClient({ baseUrl: 'https://production.deepvue.tech' });
 * const token = await client.authorize(credentials, Date.now() + 10_000);
 */
export class DeepvueClient {
  readonly #origin: string;
  readonly #pathPrefix: string;
  readonly #retry: RetryPolicy;
  readonly #bodyTimeoutMs: number;
  readonly #maxResponseBytes: number;
  readonly #dispatcher: Dispatcher;
  readonly #beforeCall: (deadlineAt: number) => Promise<void>;

  constructor(options: DeepvueClientOptions) {
    const url = new URL(options.baseUrl);
    this.#origin = url.origin;
    this.#pathPrefix = url.pathname.replace(/\/+$/, '');
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    this.#bodyTimeoutMs = options.bodyTimeoutMs ?? 5000;
    this.#maxResponseBytes = options.maxResponseBytes ?? 64 * 1024;
    this.#beforeCall = options.beforeCall ?? (async () => undefined);
    this.#dispatcher = options.dispatcher ?? new Pool(this.#origin, {
      // HTTP/1.1 only (undici 8 offers h2 too): keep-alive connections carry the few calls a
      // second a plan allows, and the bundles leave out undici's HTTP/2 client and node:http2,
      // which every cold start would otherwise load.
      allowH2: false,
      connections: 32,
      keepAliveTimeout: 60_000,
      connect: { timeout: options.connectTimeoutMs ?? 3000 },
    });
  }

  /** POST /v1/authorize (multipart/form-data). Rejected credentials raise UPSTREAM_AUTH_FAILED. */
  async authorize(credentials: Credentials, deadlineAt: number): Promise<AccessToken> {
    const issuedAt = Date.now();
    // No authorize answer is relayed to the caller, so a 5xx envelope is an outage like any 5xx.
    const form = authorizeForm(credentials);
    const reply = await this.#withRetries(deadlineAt, { relayEnvelopes: false }, () =>
      this.#post('/v1/authorize', { 'content-type': form.contentType }, form.body, deadlineAt));
    if (reply.status === 400 || reply.status === 401 || reply.status === 403) {
      throw new UpstreamFailure('UPSTREAM_AUTH_FAILED', `Deepvue refused the credentials (HTTP ${reply.status})`);
    }
    const body = parseJson(reply.body) as { access_token?: unknown; expiry?: unknown } | undefined;
    if (reply.status !== 200 || typeof body?.access_token !== 'string' || body.access_token === '') {
      throw new UpstreamFailure('UPSTREAM_ERROR', `Deepvue's authorize answer is not the documented shape (HTTP ${reply.status})`);
    }
    return { value: body.access_token, ...tokenTimes(body.expiry, issuedAt) };
  }

  /**
   * POST /v1/liveness-check. Resolves with any answer carrying a `sub_code`; throws
   * UpstreamUnauthorized on 401 and UpstreamFailure for everything the relay answers itself.
   */
  async checkLiveness(
    image: UpstreamImage,
    token: string,
    apiKey: string,
    deadlineAt: number,
    stats: UpstreamStats,
  ): Promise<UpstreamAnswer> {
    const started = Date.now();
    let admittedAfterMs = 0;
    const body = checkBody(image);
    const headers = { authorization: `Bearer ${token}`, 'x-api-key': apiKey, 'content-type': 'application/json' };
    try {
      const reply = await this.#withRetries(deadlineAt, { relayEnvelopes: true }, async () => {
        const asked = Date.now();
        await this.#beforeCall(deadlineAt);
        admittedAfterMs += Date.now() - asked;
        stats.attempts += 1;
        return this.#post('/v1/liveness-check', headers, body, deadlineAt);
      });
      if (reply.status === 401) throw new UpstreamUnauthorized('Deepvue refused the access token');
      const json = parseJson(reply.body);
      const envelope = parseUpstreamEnvelope(json);
      if (envelope !== undefined) return { status: reply.status, envelope };
      if (reply.status === 400 || reply.status === 403) {
        throw new UpstreamFailure('UPSTREAM_AUTH_FAILED', `Deepvue refused the client (HTTP ${reply.status})`);
      }
      throw new UpstreamFailure('UPSTREAM_ERROR', `Deepvue's answer is not the documented shape (HTTP ${reply.status})`);
    } finally {
      // Waiting for the rate limiter is not the upstream's latency.
      stats.latencyMs += Date.now() - started - admittedAfterMs;
    }
  }

  /** Frees the pool's sockets; a Lambda container never needs this, tests and scripts do. */
  async close(): Promise<void> {
    await this.#dispatcher.close();
  }

  /**
   * Runs `send` until it yields an answer worth returning. With `relayEnvelopes`, a 5xx envelope
   * still standing after the last attempt is returned as it is; a 5xx without one, a network
   * failure or a 429 become the relay's own answer, with the wait the caller should observe.
   */
  async #withRetries(
    deadlineAt: number,
    options: { relayEnvelopes: boolean },
    send: () => Promise<Exchange>,
  ): Promise<{ status: number; body: string }> {
    for (let attempt = 1; ; attempt += 1) {
      const exchange = await send();
      if (exchange.kind === 'timeout') {
        throw new UpstreamFailure('UPSTREAM_TIMEOUT', 'Deepvue did not answer before the deadline');
      }
      const retryable = exchange.kind === 'network' || exchange.status === 429 || exchange.status >= 500;
      if (!retryable) return exchange;

      const retryAfterMs = exchange.kind === 'response' ? exchange.retryAfterMs : undefined;
      const backoffMs = Math.random() * Math.min(this.#retry.maxDelayMs, this.#retry.baseDelayMs * 2 ** (attempt - 1));
      const waitMs = Math.max(retryAfterMs ?? 0, backoffMs);
      if (attempt >= this.#retry.maxAttempts || Date.now() + waitMs >= deadlineAt) {
        const relayed = options.relayEnvelopes && exchange.kind === 'response' && exchange.status !== 429;
        if (relayed && parseUpstreamEnvelope(parseJson(exchange.body))) {
          return exchange;
        }
        const retryAfterSeconds = Math.max(1, Math.ceil((retryAfterMs ?? this.#retry.maxDelayMs) / 1000));
        if (exchange.kind === 'response' && exchange.status === 429) {
          throw new UpstreamFailure('RATE_LIMITED', 'Deepvue rate limit exceeded; retry later', retryAfterSeconds);
        }
        const what = exchange.kind === 'network' ? exchange.detail : `HTTP ${exchange.status}`;
        throw new UpstreamFailure('UPSTREAM_UNAVAILABLE', `Deepvue is unavailable (${what}); retry later`, retryAfterSeconds);
      }
      await sleep(waitMs);
    }
  }

  async #post(path: string, headers: Record<string, string>, body: string | Buffer, deadlineAt: number): Promise<Exchange> {
    const remaining = deadlineAt - Date.now();
    if (remaining <= 0) return { kind: 'timeout' };
    // The signal alone enforces the deadline: undici runs its own timeouts on coarse timers that
    // fire up to half a second early, which would end the wait before the deadline. Its body
    // timeout is kept only to catch a silent body well before the deadline, then retried.
    const signal = AbortSignal.timeout(remaining);
    try {
      const response = await requestThrough(this.#dispatcher, {
        origin: this.#origin,
        path: `${this.#pathPrefix}${path}`,
        method: 'POST',
        headers,
        body,
        signal,
        headersTimeout: 0,
        bodyTimeout: this.#bodyTimeoutMs < remaining ? this.#bodyTimeoutMs : 0,
      });
      // An answer too large for an envelope keeps its status and loses its body: a 200 is then an
      // unknown answer, not an outage to retry (a retry would send a second, billed check).
      const text = (await readCapped(response.body, this.#maxResponseBytes)) ?? '';
      return { kind: 'response', status: response.statusCode, retryAfterMs: parseRetryAfter(response.headers['retry-after']), body: text };
    } catch (error) {
      if (signal.aborted || Date.now() >= deadlineAt) return { kind: 'timeout' };
      return { kind: 'network', detail: (error as { code?: string }).code ?? (error as Error).name };
    }
  }
}

/**
 * The authorize form, `multipart/form-data` with two text fields (RFC 7578), written here rather
 * than by a FormData: Node's global FormData loads Node's own copy of undici's fetch on first use
 * (about 100 ms of CPU, in the first check of a cold container that renews the token), and
 * undici's FormData would need a second path into its private files. The boundary is random, so
 * no credential can contain it.
 */
export function authorizeForm(credentials: Credentials): { contentType: string; body: Buffer } {
  const boundary = `liveness-relay-${randomBytes(16).toString('hex')}`;
  const field = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    body: Buffer.from(`${field('client_id', credentials.clientId)}${field('client_secret', credentials.clientSecret)}--${boundary}--\r\n`),
  };
}

const BODY_HEAD = Buffer.from('{"image":"');
const BODY_TAIL = Buffer.from('"}');

/**
 * `{"image": ...}` as the liveness check sends it. Canonical base64 needs no JSON escaping, so it
 * is written straight into one buffer of the exact size: JSON.stringify grows its output by
 * doubling and undici would encode that string once more, holding a 4 MiB image three times over.
 */
function checkBody(image: UpstreamImage): string | Buffer {
  if (image.kind === 'url') return JSON.stringify({ image: image.value });
  const body = Buffer.allocUnsafe(BODY_HEAD.length + image.value.length + BODY_TAIL.length);
  BODY_HEAD.copy(body);
  body.write(image.value, BODY_HEAD.length, 'latin1');
  BODY_TAIL.copy(body, body.length - BODY_TAIL.length);
  return body;
}

/** The body as text, or undefined when it exceeds `maxBytes` (the rest is discarded). */
async function readCapped(body: Dispatcher.ResponseData['body'], maxBytes: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `Retry-After` as delay-seconds or an HTTP date, in milliseconds. */
export function parseRetryAfter(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

import { randomUUID } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Transform } from 'node:stream';
import getRawBody from 'raw-body';
import type { Provider } from '../../lib/check/outcome.ts';
import { recordCheck } from '../../lib/check/record.ts';
import { relayEnvelope, type Envelope, type RelaySubCode } from '../../lib/platform/envelope.ts';
import type { RelayMetrics } from '../../lib/platform/metrics.ts';
import { proxyAnswer, proxyEvent } from './api-event.ts';
import { GateTimeout, InvocationGate, ReadingBudget, type GateLimits } from './gate.ts';
import { lambdaContext, type FunctionSettings, type LambdaHandler } from './lambda.ts';
import type { MockHandler } from './mock-integration.ts';
import type { ReferencePages } from './reference.ts';
import type { CorsSettings } from './service.ts';

/**
 * The HTTP side of `npm start`: API Gateway's REST API with Lambda proxy integrations, in one
 * process. Every function of serverless.yml with an `http` event is served on its method and
 * path, its handler called in process with the event API Gateway would build; everything the
 * gateway would answer itself (no route, another method, a body over 10 MB, malformed HTTP, a
 * request that does not arrive in time, a full queue, a function that fails or times out) is
 * answered with the relay's envelope and an `x-request-id`, like the deployed gateway responses.
 *
 * Built on node:http, whose `clientError` hook is where malformed and stalled requests surface,
 * so that no framework's own error pages have to be overridden one by one; routes match with the
 * platform's URLPattern, bodies are read by raw-body, and the gate is p-queue (gate.ts).
 */
export interface ApiFunction {
  settings: FunctionSettings;
  handler: LambdaHandler;
}

/** A route whose function API Gateway invokes (Lambda proxy integration), or one it answers itself (mock integration). */
export type ApiRoute = RouteBase & ({ fn: ApiFunction; mock?: undefined } | { mock: MockHandler; fn?: undefined });

interface RouteBase {
  /** Upper case, or `ANY`. */
  method: string;
  /** As written in serverless.yml, e.g. `/v1/liveness-results/{key+}`. */
  path: string;
  cors: CorsSettings | undefined;
}

/** The route every answer of which is a finished check: what the host answers there is counted as the handler counts its own. */
export interface CheckRoute {
  method: string;
  path: string;
  metrics: RelayMetrics;
  provider: Provider;
}

export interface ApiHostOptions {
  host: string;
  port: number;
  stage: string;
  routes: ApiRoute[];
  /** Per function, like reserved concurrency. */
  limits: GateLimits;
  /** Bytes of bodies still arriving, all requests together (default READING_BUDGET_BYTES). */
  readingBudgetBytes?: number;
  binaryMediaTypes: string[];
  checkRoute: CheckRoute;
  region: string;
  /** Time for the headers, and for the whole request, to arrive (default HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS). */
  arrival?: { headersMs: number; requestMs: number };
  /** Where the host reports a function that failed (the function's own logs go to stdout). */
  log(message: string): void;
  /** Pages served beside the routes (the API reference): GET and HEAD only, never in place of a route. */
  pages?: ReferencePages;
}

export interface ApiHost {
  url: string;
  close(): Promise<void>;
}

/** API Gateway's largest request body: 10 MB. */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;
/**
 * Bodies are read before a function's slot is taken, as API Gateway reads them; what they hold
 * while they arrive is bounded by this, all requests together: room for a body of the largest size
 * and more, small enough that a burst buffers few more bodies than it can serve (64 MiB had the
 * relay copying a 300-connection burst's 80 MB while its admitted checks waited on Deepvue).
 */
export const READING_BUDGET_BYTES = 16 * 1024 * 1024;
/** API Gateway ends every integration after 29 s. */
const INTEGRATION_TIMEOUT_MS = 29_000;
/** Headers, then the whole request, must have arrived within these, or the request is ended with 408. */
const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 20_000;
/** How long a throttled caller is asked to wait. */
const RETRY_AFTER_SECONDS = 1;

/** One request in flight: what the host knows of it, and whether it has been answered. */
interface Exchange {
  requestId: string;
  isCheck: boolean;
  answered: boolean;
  /** The whole request has been read (or dropped); until then the connection still belongs to it. */
  ended?: boolean;
}

interface CompiledRoute {
  route: ApiRoute;
  pattern: URLPattern;
  /** Routes with fewer parameters win, greedy ones last, as API Gateway prefers the most specific resource. */
  rank: number;
}

/** `{id}` → `:id`, `{key+}` → `:key+` (one or more segments); everything else literal. */
function compile(route: ApiRoute): CompiledRoute {
  let rank = 0;
  const pathname = route.path
    .split(/(\{[^}]+\})/)
    .map((part) => {
      const parameter = /^\{([A-Za-z0-9_]+)(\+?)\}$/.exec(part);
      if (parameter === null) return part.replace(/[:*(){}+?\\]/g, '\\$&');
      rank += parameter[2] === '+' ? 1000 : 1;
      return `:${parameter[1]}${parameter[2]}`;
    })
    .join('');
  return { route, pattern: new URLPattern({ pathname }), rank };
}

type Match =
  | { route: ApiRoute; parameters: Record<string, string> }
  | { route: undefined; allowed: string[]; cors: CorsSettings | undefined };

function matcher(routes: ApiRoute[]): (method: string, pathname: string) => Match {
  const compiled = routes.map(compile).sort((a, b) => a.rank - b.rank);
  return (method, pathname) => {
    const allowed: string[] = [];
    let cors: CorsSettings | undefined;
    for (const { route, pattern } of compiled) {
      const found = pattern.exec({ pathname });
      if (found === null) continue;
      if (route.method === method || route.method === 'ANY') {
        const parameters = Object.fromEntries(Object.entries(found.pathname.groups).filter((entry): entry is [string, string] => entry[1] !== undefined));
        return { route, parameters };
      }
      allowed.push(route.method);
      cors ??= route.cors;
    }
    return { route: undefined, allowed: [...new Set(allowed)], cors };
  };
}

/** The bodies arriving take more than the reading budget leaves. */
class ReadingBudgetFull extends Error {
  override readonly name = 'ReadingBudgetFull';
}

/**
 * The request's body as it arrives, counted against the reading budget: raw-body reads it (length
 * and limit checked) through this Transform, as raw-body has no budget shared between requests.
 */
function counted(request: IncomingMessage, reading: { take(bytes: number): boolean }): Transform {
  const counting = new Transform({
    transform(chunk: Buffer, _encoding, next) {
      next(reading.take(chunk.byteLength) ? null : new ReadingBudgetFull(), chunk);
    },
  });
  // A request that never completes (the client went, the request time ran out) ends the read too.
  request.once('close', () => {
    if (!request.complete) counting.destroy(Object.assign(new Error('request aborted'), { type: 'request.aborted' }));
  });
  return request.pipe(counting);
}

function envelopeOf(status: number, subCode: RelaySubCode, message: string): Envelope {
  // relayEnvelope knows each sub_code's usual status; the host also answers INVALID_REQUEST with 400 and 408.
  return { ...relayEnvelope(subCode, message), code: status };
}

/** The request line of a request the HTTP parser refused, if it got that far. */
function requestLineOf(rawPacket: unknown): { method: string; pathname: string } | undefined {
  if (!Buffer.isBuffer(rawPacket)) return undefined;
  const line = /^([A-Z]+) (\S+) HTTP\/1\.[01]\r?\n/.exec(rawPacket.subarray(0, 8192).toString('latin1'));
  if (line === null) return undefined;
  try {
    return { method: line[1] as string, pathname: new URL(line[2] as string, 'http://local').pathname };
  } catch {
    return undefined;
  }
}

// RFC 9110 `Host = uri-host [ ":" port ]`, uri-host an IP literal or a name (RFC 3986 reg-name,
// which IPv4 addresses also match). Node's parser checks no more than the characters HTTP allows
// in any header; URL.canParse then proves the address inside an IP literal.
const REG_NAME = "(?:[A-Za-z0-9\\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+";
const HOST_FIELD = new RegExp(`^(?:\\[[0-9A-Fa-f:.]+\\]|${REG_NAME})(?::[0-9]*)?$`);

/**
 * A request's Host is one header naming a host and port, as HTTP/1.1 requires (RFC 9112 §3.2:
 * answered 400 otherwise). Nothing npm start answers is built from it but the reference page's
 * "Try it out" address.
 */
function hasOneHost(request: IncomingMessage): boolean {
  const values = request.rawHeaders.filter((_, index) => index % 2 === 0 && request.rawHeaders[index]?.toLowerCase() === 'host');
  if (values.length > 1) return false;
  const host = request.headers.host;
  return host === undefined ? request.httpVersionMajor === 1 && request.httpVersionMinor === 0 : HOST_FIELD.test(host) && URL.canParse(`http://${host}`);
}

export async function startApiHost(options: ApiHostOptions): Promise<ApiHost> {
  const { checkRoute } = options;
  const arrival = options.arrival ?? { headersMs: HEADERS_TIMEOUT_MS, requestMs: REQUEST_TIMEOUT_MS };
  const match = matcher(options.routes);
  const readingBudget = new ReadingBudget(options.readingBudgetBytes ?? READING_BUDGET_BYTES);
  const gates = new Map<string, InvocationGate>();
  const gateOf = (key: string) => {
    let gate = gates.get(key);
    if (gate === undefined) gates.set(key, (gate = new InvocationGate(options.limits)));
    return gate;
  };
  /** The exchange a socket is carrying, for the parser's and the timeouts' errors. */
  const current = new WeakMap<Socket, Exchange>();
  const isCheck = (method: string | undefined, pathname: string) => method === checkRoute.method && pathname === checkRoute.path;
  /** This host's own address once it listens, what the events name as the API's domain: never a request's Host. */
  let authority = options.host;

  /** Headers of every answer the host makes itself. */
  const hostHeaders = (exchange: Exchange): Record<string, string> => ({
    'content-type': 'application/json',
    'x-request-id': exchange.requestId,
    ...(exchange.isCheck ? { 'x-liveness-provider': checkRoute.provider } : {}),
  });

  /** Counts an answer of the check route the handler never saw, as the handler counts its own. */
  const countCheck = (exchange: Exchange, status: number, envelope: Envelope) => {
    if (!exchange.isCheck) return;
    const outcome = { status, envelope, provider: checkRoute.provider, upstream: { attempts: 0, latencyMs: 0 } };
    recordCheck(checkRoute.metrics, 'api', outcome, exchange.requestId);
  };

  const reply = (
    response: ServerResponse,
    exchange: Exchange,
    status: number,
    subCode: RelaySubCode,
    message: string,
    headers: Record<string, string> = {},
  ): void => {
    if (exchange.answered || response.headersSent || response.destroyed) return;
    exchange.answered = true;
    const envelope = envelopeOf(status, subCode, message);
    const body = JSON.stringify(envelope);
    response.writeHead(status, { ...hostHeaders(exchange), 'content-length': String(Buffer.byteLength(body)), ...headers }).end(body);
    countCheck(exchange, status, envelope);
  };

  /**
   * Refuses a request before its body is read. The body is read and dropped, so that a client still
   * sending it gets the answer rather than a reset connection; the request time bounds how long.
   */
  const refuse = (request: IncomingMessage, response: ServerResponse, exchange: Exchange, status: number, subCode: RelaySubCode, message: string, headers: Record<string, string> = {}) => {
    request.resume();
    reply(response, exchange, status, subCode, message, headers);
  };

  const invoke = async (fn: ApiFunction, event: ReturnType<typeof proxyEvent>, response: ServerResponse, exchange: Exchange): Promise<void> => {
    const timeoutMs = fn.settings.timeoutSeconds * 1000;
    const settled = Promise.resolve()
      .then(() => fn.handler(event, lambdaContext(fn.settings, timeoutMs, options.region)))
      .then((result) => ({ result }), (error: unknown) => ({ error }));
    let timer: NodeJS.Timeout | undefined;
    const deadlineMs = Math.min(timeoutMs, INTEGRATION_TIMEOUT_MS);
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), deadlineMs);
    });
    const first = await Promise.race([settled, deadline]);
    clearTimeout(timer);
    if (first === 'deadline') {
      if (timeoutMs < INTEGRATION_TIMEOUT_MS) {
        options.log(`${fn.settings.key} timed out after ${fn.settings.timeoutSeconds} s (request ${exchange.requestId})`);
        reply(response, exchange, 502, 'INTERNAL_SERVER_ERROR', `the function did not answer within its ${fn.settings.timeoutSeconds} s timeout`);
      } else {
        reply(response, exchange, 504, 'UPSTREAM_TIMEOUT', `the integration did not answer within ${INTEGRATION_TIMEOUT_MS / 1000} s`);
      }
    } else if ('error' in first) {
      const error = first.error instanceof Error ? `${first.error.name}: ${first.error.message}` : String(first.error);
      options.log(`${fn.settings.key} failed (request ${exchange.requestId}): ${error}`);
      reply(response, exchange, 502, 'INTERNAL_SERVER_ERROR', 'the function failed');
    } else {
      const answer = proxyAnswer(first.result);
      if (answer === undefined) {
        options.log(`${fn.settings.key} returned a malformed Lambda proxy response (request ${exchange.requestId})`);
        reply(response, exchange, 502, 'INTERNAL_SERVER_ERROR', 'the function returned a malformed response');
      } else if (!exchange.answered && !response.headersSent && !response.destroyed) {
        exchange.answered = true;
        response.writeHead(answer.status, answer.headers).end(answer.body);
      }
    }
    // The slot stays taken until the function really returns, as a Lambda instance stays busy.
    await settled;
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const receivedAt = Date.now();
    const exchange: Exchange = { requestId: randomUUID(), isCheck: false, answered: false };
    current.set(request.socket, exchange);
    request.once('end', () => {
      exchange.ended = true;
    });
    const method = request.method ?? 'GET';
    let url: URL;
    try {
      url = new URL(request.url ?? '/', 'http://local');
    } catch {
      return refuse(request, response, exchange, 400, 'INVALID_REQUEST', 'the request target is not a valid URL');
    }
    exchange.isCheck = isCheck(method, url.pathname);
    if (!hasOneHost(request)) return refuse(request, response, exchange, 400, 'INVALID_REQUEST', 'the request must carry one Host header naming a host and port');

    const found = match(method, url.pathname);
    const page = found.route === undefined && found.allowed.length === 0 ? options.pages?.(url.pathname, request.headers.host) : undefined;
    if (page !== undefined) {
      if (method !== 'GET' && method !== 'HEAD') {
        return refuse(request, response, exchange, 405, 'METHOD_NOT_ALLOWED', `${url.pathname} accepts GET, not ${method}`, { allow: 'GET, HEAD' });
      }
      request.resume();
      exchange.answered = true;
      if ('redirect' in page) {
        response.writeHead(302, { location: page.redirect, 'x-request-id': exchange.requestId, 'content-length': '0' }).end();
        return;
      }
      response.writeHead(200, { 'content-type': page.contentType, 'x-request-id': exchange.requestId, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
      response.end(method === 'HEAD' ? undefined : page.body);
      return;
    }
    if (found.route === undefined) {
      if (found.allowed.length === 0) return refuse(request, response, exchange, 404, 'NOT_FOUND', `no route ${method} ${url.pathname}`);
      if (method === 'OPTIONS' && found.cors !== undefined) return preflight(request, response, exchange, found.allowed, found.cors);
      const allow = found.allowed.join(', ');
      return refuse(request, response, exchange, 405, 'METHOD_NOT_ALLOWED', `${url.pathname} accepts ${allow}, not ${method}`, { allow });
    }
    const declaredLength = Number(request.headers['content-length'] ?? 0);
    if (declaredLength > MAX_BODY_BYTES) {
      return refuse(request, response, exchange, 413, 'PAYLOAD_TOO_LARGE', `the request body exceeds ${MAX_BODY_BYTES} bytes`);
    }
    const route = found.route;
    // A mock route runs no function but holds bodies all the same: it is bounded like one.
    const gateKey = route.mock === undefined ? route.fn.settings.key : `${route.method} ${route.path}`;
    const body = await readBody(request, response, exchange);
    if (body === undefined) return;
    const ticket = gateOf(gateKey).admit();
    if (ticket === undefined) {
      return reply(response, exchange, 429, 'RATE_LIMITED', `${gateKey} is at its concurrency limit and its queue is full; retry later`, {
        'retry-after': String(RETRY_AFTER_SECONDS),
      });
    }

    const { mock, fn } = route;
    const work =
      mock !== undefined
        ? async () => answerMock(route, mock, request, body, receivedAt, response, exchange)
        : () =>
            invoke(
              fn,
              proxyEvent({
                request,
                url,
                domainName: authority,
                body,
                resource: route.path,
                pathParameters: found.parameters,
                requestId: exchange.requestId,
                receivedAt,
                stage: options.stage,
                binaryMediaTypes: options.binaryMediaTypes,
              }),
              response,
              exchange,
            );
    try {
      await ticket.run(work);
    } catch (error) {
      if (!(error instanceof GateTimeout)) throw error;
      reply(response, exchange, 429, 'RATE_LIMITED', `${gateKey} stayed at its concurrency limit for ${options.limits.maxWaitMs} ms; retry later`, {
        'retry-after': String(RETRY_AFTER_SECONDS),
      });
    }
  };

  /** The whole body, or undefined once the request has been answered (too large, unreadable) or abandoned. */
  /**
   * Reads a request's body before any slot is taken, as API Gateway reads it before invoking;
   * undefined once the request has been answered (or its client is gone).
   */
  const readBody = async (request: IncomingMessage, response: ServerResponse, exchange: Exchange): Promise<Buffer | undefined> => {
    const reading = readingBudget.reader();
    try {
      return await getRawBody(counted(request, reading), { length: request.headers['content-length'], limit: MAX_BODY_BYTES });
    } catch (error) {
      const type = (error as { type?: unknown }).type;
      if (error instanceof ReadingBudgetFull) {
        refuse(request, response, exchange, 429, 'RATE_LIMITED', `the local server is reading as much request data as it holds (${(options.readingBudgetBytes ?? READING_BUDGET_BYTES) / 1024 / 1024} MiB); retry later`, {
          'retry-after': String(RETRY_AFTER_SECONDS),
        });
      } else if (type === 'entity.too.large') {
        refuse(request, response, exchange, 413, 'PAYLOAD_TOO_LARGE', `the request body exceeds ${MAX_BODY_BYTES} bytes`);
      } else if (type !== 'request.aborted' && !request.socket.destroyed) {
        // A client that went away, or a request the timeouts ended (clientError answered it), gets nothing more.
        reply(response, exchange, 400, 'INVALID_REQUEST', 'the request body could not be read', { connection: 'close' });
      }
      return undefined;
    } finally {
      // Read (or dropped): from here the gate bounds what a request holds.
      reading.release();
    }
  };

  /**
   * A route API Gateway answers itself from its templates (mock-integration.ts), with the gateway
   * responses' envelopes where the gateway would refuse. What was sent is never logged, only that
   * the route was called and how it was answered.
   */
  const answerMock = (route: RouteBase, mock: MockHandler, request: IncomingMessage, body: Buffer, receivedAt: number, response: ServerResponse, exchange: Exchange) => {
    const answer = mock({ contentType: request.headers['content-type'], body, requestId: exchange.requestId, requestTimeEpoch: receivedAt });
    const called = `${route.method} ${route.path} (request ${exchange.requestId}, mock integration)`;
    if (answer.kind === 'unsupported-media-type') {
      options.log(`${called}: 415, no template for its content type`);
      return reply(response, exchange, 415, 'INVALID_REQUEST', 'the content type is not supported on this route');
    }
    if (answer.kind === 'configuration-error') {
      options.log(`${called}: 500, ${answer.reason}`);
      return reply(response, exchange, 500, 'INTERNAL_SERVER_ERROR', 'the route is misconfigured');
    }
    options.log(`${called}: ${answer.status}`);
    exchange.answered = true;
    response.writeHead(answer.status, { ...answer.headers, 'content-length': String(Buffer.byteLength(answer.body)) }).end(answer.body);
  };

  /** API Gateway answers the OPTIONS preflight of a `cors` route itself (a mock integration). */
  const preflight = (request: IncomingMessage, response: ServerResponse, exchange: Exchange, methods: string[], cors: CorsSettings) => {
    const origin = request.headers.origin;
    const allowOrigin = cors.origins.includes('*') ? '*' : origin !== undefined && cors.origins.includes(origin) ? origin : cors.origins[0] ?? '*';
    request.resume();
    exchange.answered = true;
    response
      .writeHead(200, {
        'x-request-id': exchange.requestId,
        'access-control-allow-origin': allowOrigin,
        'access-control-allow-methods': [...methods, 'OPTIONS'].join(','),
        'access-control-allow-headers': cors.headers.join(','),
        ...(cors.allowCredentials ? { 'access-control-allow-credentials': 'true' } : {}),
        'content-type': 'application/json',
      })
      .end();
  };

  const server = createServer({
    headersTimeout: arrival.headersMs,
    requestTimeout: arrival.requestMs,
    // How often the timeouts above are checked (node's default, 30 s, would let a request overrun by as much).
    connectionsCheckingInterval: Math.min(1000, arrival.headersMs),
  });
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    handle(request, response).catch((error: unknown) => {
      options.log(`the local host failed on a request: ${error instanceof Error ? error.stack : String(error)}`);
      const exchange = current.get(request.socket) ?? { requestId: randomUUID(), isCheck: false, answered: false };
      reply(response, exchange, 500, 'INTERNAL_SERVER_ERROR', 'the local server failed');
    });
  });

  // Malformed HTTP and requests that do not arrive in time surface here, outside any request handler.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    // The request the connection still carries; once answered and read, an error belongs to the next one.
    const last = current.get(socket);
    const inFlight = last !== undefined && !(last.answered && last.ended === true) ? last : undefined;
    const requestLine = requestLineOf((error as { rawPacket?: unknown }).rawPacket);
    const exchange = inFlight ?? {
      requestId: randomUUID(),
      isCheck: requestLine !== undefined && isCheck(requestLine.method, requestLine.pathname),
      answered: false,
    };
    const responding = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (!socket.writable || exchange.answered || responding?.headersSent === true || error.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    exchange.answered = true;
    const timedOut = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const status = timedOut ? 408 : 400;
    const envelope = envelopeOf(
      status,
      'INVALID_REQUEST',
      timedOut ? `the request did not arrive within ${arrival.requestMs / 1000} s` : `malformed HTTP request (${error.code ?? error.message})`,
    );
    const body = JSON.stringify(envelope);
    const headers = { ...hostHeaders(exchange), connection: 'close', 'content-length': String(Buffer.byteLength(body)), date: new Date().toUTCString() };
    const head = [`HTTP/1.1 ${status} ${STATUS_CODES[status]}`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
    socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
    countCheck(exchange, status, envelope);
  });

  // A burst opens many connections at once; the kernel's queue of them is as long as this allows.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  authority = `${options.host}:${port}`;
  return {
    url: `http://${authority}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

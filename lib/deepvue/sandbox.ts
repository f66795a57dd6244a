import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { documentedBody, DOCUMENTED_ANSWERS, type DocumentedAnswerName } from './documented.ts';

/**
 * A stand-in for Deepvue that speaks its documented protocol and answers with its documented
 * bodies (lib/deepvue/documented.ts): `npm start` without credentials relays to it, and the
 * tests' emulator wraps it with faults. Which answer a check gets is chosen by the image URL's
 * `sandbox` query parameter (see SANDBOX_OUTCOMES); base64 images are judged live.
 */
export interface DeepvueSandboxOptions {
  /** client_id → client_secret accepted by authorize; when absent, any pair is accepted. */
  clients?: ReadonlyMap<string, string>;
  /** client_ids that get `400 Inactive client_id`. */
  inactiveClients?: ReadonlySet<string>;
}

/** `?sandbox=<name>` on an image URL → what the sandbox answers. */
export const SANDBOX_OUTCOMES = {
  live: 'SUCCESS with is_live true (and score null, as documented)',
  spoof: 'SUCCESS with is_live false',
  'no-face': 'FACE_NOT_DETECTED',
  'invalid-url': '422 INVALID_URL envelope',
  'server-error': '500 INTERNAL_SERVER_ERROR envelope',
  'rate-limited': '429 {"detail": "Rate limit exceeded"} with Retry-After: 1',
  unavailable: '503 {"detail": "Source Unavailable"}',
  forbidden: '403 {"detail": "Forbidden"}',
  'not-json': '200 with an HTML body',
  timeout: 'no answer at all',
} as const;

export type SandboxOutcome = keyof typeof SANDBOX_OUTCOMES;

interface IssuedToken {
  clientSecret: string;
}

export class DeepvueSandbox {
  readonly #clients: ReadonlyMap<string, string> | undefined;
  readonly #inactive: ReadonlySet<string>;
  readonly #tokens = new Map<string, IssuedToken>();

  constructor(options: DeepvueSandboxOptions = {}) {
    this.#clients = options.clients;
    this.#inactive = options.inactiveClients ?? new Set();
  }

  /** Makes every issued token invalid, as a revocation or key rotation on Deepvue's side would. */
  revokeTokens(): void {
    this.#tokens.clear();
  }

  /** Answers one request; `body` is the raw request body. */
  async answer(request: IncomingMessage, body: Buffer, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', 'http://sandbox').pathname;
    if (request.method === 'POST' && path.endsWith('/v1/authorize')) return this.#authorize(request, body, response);
    if (request.method === 'POST' && path.endsWith('/v1/liveness-check')) return this.#check(request, body, response);
    sendJson(response, 404, { detail: 'Not Found' });
  }

  async #authorize(request: IncomingMessage, body: Buffer, response: ServerResponse): Promise<void> {
    let form: FormData;
    try {
      form = await new Request('http://sandbox/', {
        method: 'POST',
        headers: { 'content-type': request.headers['content-type'] ?? '' },
        body: new Uint8Array(body),
      }).formData();
    } catch {
      return sendJson(response, 422, { detail: 'client_id and client_secret are required form fields' });
    }
    const clientId = form.get('client_id');
    const clientSecret = form.get('client_secret');
    if (typeof clientId !== 'string' || typeof clientSecret !== 'string') {
      return sendJson(response, 422, { detail: 'client_id and client_secret are required form fields' });
    }
    if (this.#inactive.has(clientId)) return sendDocumented(response, 'detail-inactive-client');
    if (this.#clients !== undefined && this.#clients.get(clientId) !== clientSecret) {
      return sendDocumented(response, 'detail-not-authenticated');
    }
    const expiry = new Date(Date.now() + 24 * 60 * 60 * 1000);
    const token = fakeJwt(clientId, expiry);
    this.#tokens.set(token, { clientSecret });
    sendJson(response, 200, { access_token: token, token_type: 'bearer', expiry: expiry.toISOString() });
  }

  #check(request: IncomingMessage, body: Buffer, response: ServerResponse): void {
    const authorization = request.headers.authorization ?? '';
    if (!authorization.startsWith('Bearer ')) return sendDocumented(response, 'detail-not-authenticated');
    const issued = this.#tokens.get(authorization.slice('Bearer '.length));
    if (issued === undefined) return sendDocumented(response, 'detail-not-a-valid-token');
    if (request.headers['x-api-key'] !== issued.clientSecret) return sendJson(response, 403, { detail: 'Forbidden' });

    let image: unknown;
    try {
      image = (JSON.parse(body.toString('utf8')) as { image?: unknown }).image;
    } catch {
      image = undefined;
    }
    if (typeof image !== 'string' || image === '') {
      return sendJson(response, 422, { detail: [{ loc: ['body', 'image'], msg: 'field required' }] });
    }
    if (!/^https?:\/\//i.test(image)) {
      const valid = /^[A-Za-z0-9+/]+={0,2}$/.test(image) && image.length % 4 === 0;
      return sendDocumented(response, valid ? 'liveness-success' : 'liveness-invalid-base64');
    }
    const outcome = URL.parse(image)?.searchParams.get('sandbox') ?? 'live';
    switch (outcome) {
      case 'spoof':
        // The page documents a SUCCESS only with is_live true; a spoof is the same body with false.
        return sendDocumented(response, 'liveness-success', { data: { is_live: false, score: null } });
      case 'no-face':
        return sendDocumented(response, 'liveness-face-not-detected');
      case 'invalid-url':
        return sendDocumented(response, 'liveness-invalid-url');
      case 'server-error':
        return sendDocumented(response, 'liveness-internal-server-error');
      case 'rate-limited':
        response.setHeader('retry-after', '1');
        return sendJson(response, 429, { detail: 'Rate limit exceeded: 1 per 1 second' });
      case 'unavailable':
        return sendJson(response, 503, { detail: 'Source Unavailable' });
      case 'forbidden':
        return sendJson(response, 403, { detail: 'Forbidden' });
      case 'not-json':
        response.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Bad gateway</body></html>');
        return;
      case 'timeout':
        return; // never answered: the relay's deadline decides
      default:
        return sendDocumented(response, 'liveness-success');
    }
  }
}

export interface RunningSandbox {
  baseUrl: string;
  close(): Promise<void>;
}

/** Serves a sandbox on a free loopback port; the server never keeps a process alive by itself. */
export async function startSandbox(
  handle: (request: IncomingMessage, body: Buffer, response: ServerResponse) => Promise<void> | void = (() => {
    const sandbox = new DeepvueSandbox();
    return (request: IncomingMessage, body: Buffer, response: ServerResponse) => sandbox.answer(request, body, response);
  })(),
): Promise<RunningSandbox> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      Promise.resolve(handle(request, Buffer.concat(chunks), response)).catch(() => {
        if (!response.headersSent) sendJson(response, 500, { detail: 'sandbox failure' });
      });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function fakeJwt(clientId: string, expiry: Date): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const claims = { sub: clientId, exp: Math.floor(expiry.getTime() / 1000), jti: randomUUID() };
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}.${randomBytes(32).toString('base64url')}`;
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** A documented answer with its documented status and a fresh transaction_id. */
function sendDocumented(response: ServerResponse, name: DocumentedAnswerName, changes?: Record<string, unknown>): void {
  sendJson(response, DOCUMENTED_ANSWERS[name].status, documentedBody(name, changes));
}

import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { documentedBody, DOCUMENTED_ANSWERS, type DocumentedAnswerName } from '../../lib/deepvue/documented.ts';
import { DeepvueSandbox, startSandbox } from '../../lib/sandbox.ts';

/**
 * Deepvue as the tests see it: lib/sandbox.ts speaks the documented protocol, and this wrapper
 * records every call and replaces the next answers to a path with injected faults.
 */
export type UpstreamPath = '/v1/authorize' | '/v1/liveness-check';

export interface RecordedCall {
  path: string;
  headers: IncomingHttpHeaders;
  /** JSON object or form fields of the request; a body that is neither is kept as `{ raw }`. */
  body: Record<string, unknown>;
  /** Date.now() when the request body had arrived. */
  at: number;
}

export type Fault =
  /** A canned answer: an object body is sent as JSON, a string as it is. */
  | { kind: 'reply'; status: number; body: object | string; headers?: Record<string, string> }
  /** Never answers. */
  | { kind: 'hang' }
  /** Resets the connection once the request has arrived. */
  | { kind: 'reset' }
  /** Sends status and headers, then part of the body, then nothing more. */
  | { kind: 'stall' }
  /** Sends status, headers and part of the body, then resets the connection. */
  | { kind: 'cut' }
  /** Sends a JSON body one byte every `everyMs`, never finishing. */
  | { kind: 'drip'; everyMs: number };

/** A documented answer, with its documented status (see documentedBody for `changes`). */
export const documented = (name: DocumentedAnswerName, changes?: Record<string, unknown>) => ({
  kind: 'reply' as const,
  status: DOCUMENTED_ANSWERS[name].status,
  body: documentedBody(name, changes),
}) satisfies Fault;

const detail = (status: number, text: string, headers?: Record<string, string>): Fault => ({
  kind: 'reply',
  status,
  body: { detail: text },
  ...(headers === undefined ? {} : { headers }),
});

/** The failures Deepvue documents, and a few the network adds. */
export const faults = {
  serverError: (): Fault => documented('liveness-internal-server-error'),
  unavailable: (): Fault => detail(503, 'Source Unavailable'),
  rateLimited: (retryAfterSeconds: number): Fault =>
    detail(429, 'Rate limit exceeded: 1 per 1 second', { 'retry-after': String(retryAfterSeconds) }),
  inactiveClient: (): Fault => documented('detail-inactive-client'),
  invalidToken: (): Fault => documented('detail-not-a-valid-token'),
  notAuthenticated: (): Fault => documented('detail-not-authenticated'),
  // Deepvue names a 403 without showing its body.
  forbidden: (): Fault => detail(403, 'Forbidden'),
  notJson: (): Fault => ({ kind: 'reply', status: 200, body: '<html><body>502 Bad Gateway</body></html>', headers: { 'content-type': 'text/html' } }),
  hang: (): Fault => ({ kind: 'hang' }),
  reset: (): Fault => ({ kind: 'reset' }),
  stall: (): Fault => ({ kind: 'stall' }),
  cut: (): Fault => ({ kind: 'cut' }),
  drip: (everyMs = 100): Fault => ({ kind: 'drip', everyMs }),
};

export interface DeepvueEmulatorOptions {
  /** client_id → client_secret accepted by authorize. */
  clients: Record<string, string>;
  /** client_ids answered `400 Inactive client_id`. */
  inactiveClients?: string[];
}

export interface DeepvueEmulator {
  baseUrl: string;
  /** Calls received, oldest first; only those to `path` when given. */
  calls(path?: UpstreamPath): RecordedCall[];
  clearCalls(): void;
  /** The next `times` calls to `path` get `fault` instead of Deepvue's answer. */
  inject(path: UpstreamPath, fault: Fault, times?: number): void;
  /** Accepts `clientSecret` for `clientId` from now on, as a rotation on Deepvue's side would. */
  setClient(clientId: string, clientSecret: string): void;
  /** Invalidates every issued access token. */
  revokeTokens(): void;
  close(): Promise<void>;
}

export async function startDeepvueEmulator(options: DeepvueEmulatorOptions): Promise<DeepvueEmulator> {
  const clients = new Map(Object.entries(options.clients));
  const sandbox = new DeepvueSandbox({ clients, inactiveClients: new Set(options.inactiveClients ?? []) });
  const recorded: RecordedCall[] = [];
  const pending = new Map<string, Array<{ fault: Fault; remaining: number }>>();

  const nextFault = (path: string): Fault | undefined => {
    const queue = pending.get(path);
    const head = queue?.[0];
    if (queue === undefined || head === undefined) return undefined;
    head.remaining -= 1;
    if (head.remaining === 0) queue.shift();
    return head.fault;
  };

  const running = await startSandbox(async (request, body, response) => {
    const path = new URL(request.url ?? '/', 'http://emulator').pathname;
    recorded.push({ path, headers: request.headers, body: await parseBody(request, body), at: Date.now() });
    const fault = nextFault(path);
    if (fault === undefined) return sandbox.answer(request, body, response);
    play(fault, request, response);
  });

  return {
    baseUrl: running.baseUrl,
    calls: (path) => recorded.filter((call) => path === undefined || call.path === path),
    clearCalls: () => {
      recorded.length = 0;
    },
    inject: (path, fault, times = 1) => {
      const queue = pending.get(path) ?? [];
      queue.push({ fault, remaining: times });
      pending.set(path, queue);
    },
    setClient: (clientId, clientSecret) => {
      clients.set(clientId, clientSecret);
    },
    revokeTokens: () => sandbox.revokeTokens(),
    close: () => running.close(),
  };
}

function play(fault: Fault, request: IncomingMessage, response: ServerResponse): void {
  switch (fault.kind) {
    case 'reply': {
      const text = typeof fault.body === 'string' ? fault.body : JSON.stringify(fault.body);
      response.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers }).end(text);
      return;
    }
    case 'hang':
      return;
    case 'reset':
      request.socket.resetAndDestroy();
      return;
    case 'stall':
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': '4096' });
      response.write('{"code": 200, ');
      return;
    case 'cut':
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': '4096' });
      response.write('{"code": 200, ', () => request.socket.resetAndDestroy());
      return;
    case 'drip': {
      response.writeHead(200, { 'content-type': 'application/json' });
      const timer = setInterval(() => response.write(' '), fault.everyMs);
      response.on('close', () => clearInterval(timer));
      response.write('{');
      return;
    }
  }
}

async function parseBody(request: IncomingMessage, body: Buffer): Promise<Record<string, unknown>> {
  const contentType = request.headers['content-type'] ?? '';
  try {
    if (contentType.startsWith('application/json')) {
      const parsed: unknown = JSON.parse(body.toString('utf8'));
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return { ...parsed };
    } else if (contentType.startsWith('multipart/form-data') || contentType.startsWith('application/x-www-form-urlencoded')) {
      const form = await new Request('http://emulator/', { method: 'POST', headers: { 'content-type': contentType }, body: new Uint8Array(body) }).formData();
      return Object.fromEntries(form.entries());
    }
  } catch {
    // Kept raw below: the test then sees exactly what arrived.
  }
  return { raw: body.toString('utf8') };
}

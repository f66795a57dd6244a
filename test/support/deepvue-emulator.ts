import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { documentedBody, DOCUMENTED_ANSWERS, type DocumentedAnswerName } from '../../lib/deepvue/documented.ts';
import { DeepvueSandbox, startSandbox } from '../../lib/deepvue/sandbox.ts';

/**
 * Deepvue as the tests see it: lib/deepvue/sandbox.ts speaks the documented protocol, and this wrapper
 * records every call and replaces the next answers to a path with injected faults.
 */
export type UpstreamPath = '/v1/authorize' | '/v1/liveness-check';
export const AUTHORIZE = '/v1/authorize' satisfies UpstreamPath;
export const CHECK = '/v1/liveness-check' satisfies UpstreamPath;

export interface RecordedCall {
  path: string;
  headers: IncomingHttpHeaders;
  /** JSON object or form fields of the request; a body that is neither is kept as `{ raw }`. */
  body: Record<string, unknown>;
  /** Date.now() when the request body had arrived. */
  at: number;
  /** Answered 429 because the call exceeded the plan (see `setPlan`). */
  overPlan: boolean;
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
  | { kind: 'drip'; everyMs: number }
  /** Answers as Deepvue would, once `until` has settled: a check held mid-flight while a test acts. */
  | { kind: 'held'; until: Promise<unknown> };

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

/** One window of a plan's rate: at most `limit` liveness checks within any `windowMs`. */
export interface PlanWindow {
  limit: number;
  windowMs: number;
}

export interface DeepvueEmulatorOptions {
  /** client_id → client_secret accepted by authorize. */
  clients: Record<string, string>;
  /** client_ids answered `400 Inactive client_id`. */
  inactiveClients?: string[];
  /** Enforces a plan's rate on liveness checks, as Deepvue does per API key (see `setPlan`). */
  plan?: PlanWindow[];
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
  /**
   * Enforces `windows` on liveness checks from now on (undefined lifts the limit): a check beyond
   * any window is answered Deepvue's documented `429 {"detail": "Rate limit exceeded: ..."}`.
   * Windows slide (a moving window, the strictest reading of a plan): a client that keeps to
   * every sliding window also keeps to fixed windows that open at any moment.
   */
  setPlan(windows: PlanWindow[] | undefined): void;
  /** Liveness checks answered 429 because of the plan since the start or the last `clearCalls()`. */
  rateLimited(): number;
  close(): Promise<void>;
}

export async function startDeepvueEmulator(options: DeepvueEmulatorOptions): Promise<DeepvueEmulator> {
  const clients = new Map(Object.entries(options.clients));
  const sandbox = new DeepvueSandbox({ clients, inactiveClients: new Set(options.inactiveClients ?? []) });
  const recorded: RecordedCall[] = [];
  const pending = new Map<string, Array<{ fault: Fault; remaining: number }>>();
  let plan = options.plan;
  const accepted: number[] = [];
  let rateLimited = 0;

  /** The plan's 429 when `at` would exceed a window; otherwise the check is counted. */
  const overPlan = (at: number): Fault | undefined => {
    if (plan === undefined) return undefined;
    for (const window of plan) {
      if (accepted.filter((time) => time > at - window.windowMs).length >= window.limit) {
        rateLimited += 1;
        return detail(429, `Rate limit exceeded: ${window.limit} per ${describeWindow(window.windowMs)}`);
      }
    }
    accepted.push(at);
    const longest = Math.max(...plan.map((window) => window.windowMs));
    while ((accepted[0] ?? at) <= at - longest) accepted.shift();
    return undefined;
  };

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
    const at = Date.now();
    const refused = path === '/v1/liveness-check' ? overPlan(at) : undefined;
    recorded.push({ path, headers: request.headers, body: await parseBody(request, body), at, overPlan: refused !== undefined });
    const fault = refused ?? nextFault(path);
    if (fault?.kind === 'held') await fault.until.catch(() => undefined);
    if (fault === undefined || fault.kind === 'held') return sandbox.answer(request, body, response);
    play(fault, request, response);
  });

  return {
    baseUrl: running.baseUrl,
    calls: (path) => recorded.filter((call) => path === undefined || call.path === path),
    clearCalls: () => {
      recorded.length = 0;
      rateLimited = 0;
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
    setPlan: (windows) => {
      plan = windows;
      accepted.length = 0;
    },
    rateLimited: () => rateLimited,
    close: () => running.close(),
  };
}

/** slowapi's wording of a window: `1 second`, `30 minute`, ... */
function describeWindow(windowMs: number): string {
  for (const [unitMs, unit] of [[86_400_000, 'day'], [3_600_000, 'hour'], [60_000, 'minute'], [1000, 'second']] as const) {
    if (windowMs % unitMs === 0) return `${windowMs / unitMs} ${unit}`;
  }
  return `${windowMs} millisecond`;
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
    case 'held':
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

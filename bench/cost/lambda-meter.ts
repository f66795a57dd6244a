import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import type { Context } from 'aws-lambda';
import type { DeployedFunction } from './service.ts';

/**
 * Counts what Lambda and API Gateway bill for the invocations the cost bench makes in process:
 * invocations, billed duration at the function's configured memory, API Gateway requests and the
 * bytes of their answers, and every byte each function writes to its log stream. Invocations run
 * one at a time, so whatever reaches standard output or error meanwhile is the invoked function's:
 * its Powertools log lines and EMF records alike. Lambda's own lines (INIT_START, START, END,
 * REPORT) go to the same log stream and are billed alike: they are counted as Lambda writes them.
 */
export interface FunctionUse {
  invocations: number;
  /** Rounded up to the millisecond per invocation, as Lambda bills; a cold start's init included. */
  billedMs: number;
  gbSeconds: number;
  /** The function's own lines (logs and EMF): bytes of their messages, and how many. */
  logBytes: number;
  logLines: number;
  /** Lambda's own lines. */
  platformBytes: number;
  platformLines: number;
  apiRequests: number;
  /** The API answers as sent to clients: headers, and bodies gzipped above API Gateway's minimumCompressionSize (1 KB). */
  transferOutBytes: number;
}

export const noUse = (): FunctionUse => ({
  invocations: 0,
  billedMs: 0,
  gbSeconds: 0,
  logBytes: 0,
  logLines: 0,
  platformBytes: 0,
  platformLines: 0,
  apiRequests: 0,
  transferOutBytes: 0,
});

/** serverless.yml's `provider.apiGateway.minimumCompressionSize`. */
const MINIMUM_COMPRESSION_SIZE = 1024;
const ACCOUNT = '123456789012';

type Handler = (event: never, context: Context) => Promise<unknown>;

export class LambdaMeter {
  #uses: Record<string, FunctionUse> = {};
  /** The use of the function running now (its init or an invocation), which everything written is counted to. */
  #writing: FunctionUse | undefined;
  /** Every custom metric the EMF records named: a name with one set of dimension values, each billed per month. */
  readonly #series = new Set<string>();
  /** Init time of each function whose first invocation has not yet reported it. */
  readonly #pendingInit = new Map<string, number>();
  readonly #restore: () => void;

  constructor() {
    const out = process.stdout.write.bind(process.stdout);
    const err = process.stderr.write.bind(process.stderr);
    const capture = (original: typeof out): typeof out => ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const writing = this.#writing;
      if (writing === undefined) return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      countLines(writing, 'log', text);
      for (const series of metricSeries(text)) this.#series.add(series);
      const callback = rest.find((argument) => typeof argument === 'function');
      if (typeof callback === 'function') (callback as () => void)();
      return true;
    }) as typeof out;
    process.stdout.write = capture(out);
    process.stderr.write = capture(err);
    this.#restore = () => {
      process.stdout.write = out;
      process.stderr.write = err;
    };
  }

  /**
   * Loads a function as a new container does (its module's top level is its init), counting what
   * it logs and the time it takes: since August 2025 Lambda bills a cold start's INIT phase.
   */
  async init<T>(fn: DeployedFunction, load: () => Promise<T>): Promise<T> {
    const use = this.#use(fn.name);
    platformLine(use, `INIT_START Runtime Version: nodejs:24.v12\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:${randomBytes(32).toString('hex')}`);
    this.#writing = use;
    const started = performance.now();
    try {
      return await load();
    } finally {
      this.#writing = undefined;
      this.#pendingInit.set(fn.name, performance.now() - started);
    }
  }

  /** One invocation of `handler` with `event`, as Lambda makes it; `api` when API Gateway made the request. */
  async invoke<R>(fn: DeployedFunction, handler: Handler, event: unknown, options: { api?: boolean; timeoutMs?: number } = {}): Promise<R> {
    const use = this.#use(fn.name);
    const requestId = randomUUID();
    const initMs = this.#pendingInit.get(fn.name);
    this.#pendingInit.delete(fn.name);
    platformLine(use, `START RequestId: ${requestId} Version: $LATEST`);
    this.#writing = use;
    const started = performance.now();
    let result: unknown;
    try {
      result = await handler(event as never, lambdaContext(fn, requestId, options.timeoutMs ?? 29_000));
    } finally {
      const durationMs = performance.now() - started;
      this.#writing = undefined;
      const billedMs = Math.ceil(durationMs + (initMs ?? 0));
      use.invocations += 1;
      use.billedMs += billedMs;
      use.gbSeconds += (billedMs / 1000) * (fn.memoryMb / 1024);
      const usedMb = Math.min(fn.memoryMb, Math.round(process.memoryUsage.rss() / 2 ** 20));
      platformLine(use, `END RequestId: ${requestId}`);
      platformLine(
        use,
        `REPORT RequestId: ${requestId}\tDuration: ${durationMs.toFixed(2)} ms\tBilled Duration: ${billedMs} ms\tMemory Size: ${fn.memoryMb} MB\tMax Memory Used: ${usedMb} MB\t${initMs === undefined ? '' : `Init Duration: ${initMs.toFixed(2)} ms\t`}`,
      );
    }
    if (options.api === true) {
      use.apiRequests += 1;
      use.transferOutBytes += answerBytes(result);
    }
    return result as R;
  }

  /** What each function used since the last `take`, by function name. */
  take(): Record<string, FunctionUse> {
    const taken = this.#uses;
    this.#uses = {};
    return taken;
  }

  /** The custom metrics written so far, as `Name{Dimension=value,...}`. */
  metricSeries(): string[] {
    return [...this.#series].sort();
  }

  close(): void {
    this.#restore();
  }

  #use(name: string): FunctionUse {
    this.#uses[name] ??= noUse();
    return this.#uses[name];
  }
}

/** Each line written is one log event: its message is the line without its end. */
function countLines(use: FunctionUse, kind: 'log' | 'platform', text: string): void {
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const bytes = Buffer.byteLength(line);
    if (kind === 'log') {
      use.logBytes += bytes;
      use.logLines += 1;
    } else {
      use.platformBytes += bytes;
      use.platformLines += 1;
    }
  }
}

interface EmfRecord {
  _aws?: { CloudWatchMetrics?: Array<{ Dimensions?: string[][]; Metrics?: Array<{ Name?: string }> }> };
}

/** The metrics (with their dimension values) of the EMF records among `text`'s lines. */
function metricSeries(text: string): string[] {
  return text.split('\n').filter((line) => line.startsWith('{"_aws"')).flatMap((line) => {
    const record = JSON.parse(line) as EmfRecord & Record<string, unknown>;
    return (record._aws?.CloudWatchMetrics ?? []).flatMap((directive) =>
      (directive.Dimensions ?? [[]]).flatMap((dimensions) =>
        (directive.Metrics ?? []).map((metric) => `${metric.Name ?? ''}{${dimensions.map((name) => `${name}=${String(record[name])}`).join(',')}}`)));
  });
}

const platformLine = (use: FunctionUse, line: string) => countLines(use, 'platform', line);

/**
 * What API Gateway sends back of a function's answer: its headers (a signed verdict's among them),
 * and its body, base64 bodies as their bytes, gzipped above 1 KB (every client of the API accepts
 * gzip). API Gateway's own headers (request ids, date) are not counted.
 */
function answerBytes(result: unknown): number {
  const { body, isBase64Encoded, headers } = (result ?? {}) as { body?: unknown; isBase64Encoded?: unknown; headers?: Record<string, unknown> };
  const headerBytes = Object.entries(headers ?? {}).reduce((sum, [name, value]) => sum + Buffer.byteLength(`${name}: ${String(value)}\r\n`), 0);
  if (typeof body !== 'string') return headerBytes;
  return headerBytes + sentBytes(isBase64Encoded === true ? Buffer.from(body, 'base64') : Buffer.from(body));
}

const sentBytes = (body: Buffer): number => (body.length > MINIMUM_COMPRESSION_SIZE ? gzipSync(body).length : body.length);

/** The context Lambda hands a deployed function: its deployed name and ARN, configured memory, a log stream. */
function lambdaContext(fn: DeployedFunction, requestId: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: fn.deployedName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${fn.deployedName}`,
    memoryLimitInMB: String(fn.memoryMb),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${fn.deployedName}`,
    logStreamName: `2026/12/07/[$LATEST]${'0123456789abcdef'.repeat(2)}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

import { AsyncLocalStorage } from 'node:async_hooks';
import type { LambdaHandler } from './lambda.ts';

/**
 * What Lambda's runtime gives a function's code, for the local runs that call handlers in process
 * (`npm start`, `npm run upload`). Imported first, before any module of lib/: Powertools reads it
 * when its logger is created.
 *
 * - `AWS_LAMBDA_INITIALIZATION_TYPE=on-demand`, which Lambda sets for on-demand functions: without
 *   it Powertools logs `cold_start: false` on every line, the first invocation's included.
 * - Several invocations at once in one process, as Lambda runs them in one execution environment
 *   when it sets `AWS_LAMBDA_MAX_CONCURRENCY` (Lambda Managed Instances): Powertools then keeps each
 *   invocation's Lambda context (`function_name`, `function_request_id`), log keys and metrics in
 *   `globalThis.awslambda.InvokeStore`, which that runtime provides, so that an invocation of one
 *   function never logs under another's name. This is npm start's, over AsyncLocalStorage (as
 *   Lambda's own); outside any invocation (start-up, the local host's own answers) one shared
 *   context stands in, where Lambda's runtime would be in its init phase.
 */
type Context = Record<string | symbol, unknown>;

/** The key under which the runtime's store holds an invocation's request id (@aws/lambda-invoke-store's). */
const REQUEST_ID = Symbol.for('_AWS_LAMBDA_REQUEST_ID');

const invocations = new AsyncLocalStorage<Context>();
const outside: Context = {};
const current = (): Context => invocations.getStore() ?? outside;

const invokeStore = {
  getContext: () => invocations.getStore(),
  hasContext: () => invocations.getStore() !== undefined,
  get: (key: string | symbol): unknown => current()[key],
  set: (key: string | symbol, value: unknown): void => {
    if (key === REQUEST_ID) throw new Error('Cannot modify protected Lambda context field: the request id');
    current()[key] = value;
  },
  run: <T>(context: Context, fn: () => T): T => invocations.run(context, fn),
  getRequestId: (): string => String(current()[REQUEST_ID] ?? '-'),
  getXRayTraceId: (): undefined => undefined,
  getTenantId: (): undefined => undefined,
  getTraceparent: (): undefined => undefined,
  getTracestate: (): undefined => undefined,
  getBaggage: (): undefined => undefined,
};

process.env.AWS_LAMBDA_INITIALIZATION_TYPE = 'on-demand';
process.env.AWS_LAMBDA_MAX_CONCURRENCY = 'local';
const global = globalThis as { awslambda?: { InvokeStore?: unknown } };
global.awslambda = { ...global.awslambda, InvokeStore: invokeStore };

/** Runs one invocation in its own context, as Lambda's runtime does. */
export function inInvocation<T>(requestId: string, invoke: () => T): T {
  return invokeStore.run({ [REQUEST_ID]: requestId }, invoke);
}

/**
 * `handler`, one function's entry point, run as Lambda runs it: each call in its own invocation
 * context, and its first call a cold start. `logger` is the logger every function of this process
 * shares (lib/platform/logger.ts): Powertools says `cold_start: true` once per logger, at the first
 * invocation it sees, as a deployed function does in its own process. Here the flag (a protected
 * member: no public way exists) is raised for the first call of each function only, so that every
 * function's first invocation says so, as each one's deployed first invocation would.
 */
export function asLambdaFunction(handler: LambdaHandler, logger: object): LambdaHandler {
  let cold = true;
  return (event, context) =>
    inInvocation(context.awsRequestId, () => {
      const flag = logger as { coldStart: boolean };
      flag.coldStart = cold;
      cold = false;
      // Powertools reads the flag as the invocation starts, before the handler's first await; a
      // function that never logs leaves it raised, so it is lowered for the next one.
      const result = handler(event, context);
      flag.coldStart = false;
      return result;
    });
}

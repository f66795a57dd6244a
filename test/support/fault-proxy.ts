import { createServer, type IncomingMessage } from 'node:http';
import { listenOnLoopback } from '../../scripts/local/loopback.ts';
import { forward } from './forward.ts';

/**
 * An HTTP proxy on loopback in front of a local AWS stand-in (dynalite, s3rver) that answers
 * chosen requests with the failures the real service produces: throttling, access denied,
 * silence. Everything else passes through unchanged, so the SDK talks to a working service
 * between the faults. Point a client at it through its `AWS_ENDPOINT_URL_*` variable.
 */
export type ProxyFault =
  /** An error answer as the service sends it. */
  | { kind: 'reply'; status: number; headers: Record<string, string>; body: string }
  /** Never answers. */
  | { kind: 'hang' }
  /** Resets the connection. */
  | { kind: 'reset' }
  /** Passes the request on, and its answer back `ms` later: a slow write that took effect. */
  | { kind: 'late'; ms: number }
  /** Passes the request on, and its answer back once `until` settles: a step the test slips something in after. */
  | { kind: 'held'; until: Promise<unknown> };

/** Which requests a fault applies to, judged once the request's body has arrived; every request when absent. */
export type ProxyMatch = (request: IncomingMessage, body: string) => boolean;

export interface FaultProxy {
  url: string;
  /** The next `times` requests that `match` get `fault`; Infinity until `clear()`. */
  inject(fault: ProxyFault, times: number, match?: ProxyMatch): void;
  /** Drops the faults not yet played and resets `faulted` and `requests`. */
  clear(): void;
  /** Requests answered with an injected fault since the start or the last `clear()`. */
  readonly faulted: number;
  /** Every request received, passed through or faulted, since the start or the last `clear()`. */
  readonly requests: number;
  close(): Promise<void>;
}

/** DynamoDB's answer to a request over the table's throughput (AWS JSON 1.0). */
export const dynamoThrottled = (): ProxyFault => ({
  kind: 'reply',
  status: 400,
  headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-errortype': 'ProvisionedThroughputExceededException' },
  body: JSON.stringify({
    __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
    message: 'The level of configured provisioned throughput for the table was exceeded.',
  }),
});

const s3Error = (status: number, code: string, message: string): ProxyFault => ({
  kind: 'reply',
  status,
  headers: { 'content-type': 'application/xml' },
  body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>FAULTPROXY</RequestId></Error>`,
});
export const s3AccessDenied = (): ProxyFault => s3Error(403, 'AccessDenied', 'Access Denied');
export const s3SlowDown = (): ProxyFault => s3Error(503, 'SlowDown', 'Please reduce your request rate.');
/** S3's answer to a conditional GET whose If-Match no longer holds (s3rver ignores If-Match). */
export const s3PreconditionFailed = (): ProxyFault => s3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');

/** Matches S3 GetObject (a GET of an object, not of its tags). */
export const isGetObject = (request: IncomingMessage): boolean => request.method === 'GET' && !(request.url ?? '').includes('tagging');

/** Matches a DynamoDB request of `operation` (e.g. `PutItem`) whose JSON body contains `text`, when given. */
export const dynamoRequest = (operation: string, text?: string): ProxyMatch => (request, body) =>
  request.headers['x-amz-target'] === `DynamoDB_20120810.${operation}` && (text === undefined || body.includes(text));

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const pending: Array<{ fault: ProxyFault; remaining: number; match: ProxyMatch }> = [];
  let faulted = 0;
  let requests = 0;

  const faultFor = (request: IncomingMessage, body: string): ProxyFault | undefined => {
    const index = pending.findIndex((entry) => entry.match(request, body));
    const entry = pending[index];
    if (entry === undefined) return undefined;
    entry.remaining -= 1;
    if (entry.remaining <= 0) pending.splice(index, 1);
    faulted += 1;
    return entry.fault;
  };

  const server = createServer((request, response) => {
    requests += 1;
    // The request is read whole first, as the service would, so the client sees an answer and not a write error.
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const fault = faultFor(request, body.toString('utf8'));
      if (fault === undefined) {
        forward(upstream, request, response, body);
      } else if (fault.kind === 'late') forward(upstream, request, response, body, fault.ms);
      else if (fault.kind === 'held') forward(upstream, request, response, body, fault.until);
      else if (fault.kind === 'reset') request.socket.resetAndDestroy();
      else if (fault.kind === 'reply') response.writeHead(fault.status, fault.headers).end(fault.body);
    });
  });
  const { url, close } = await listenOnLoopback(server);

  return {
    url,
    inject: (fault, times, match = () => true) => {
      pending.push({ fault, remaining: times, match });
    },
    clear: () => {
      pending.length = 0;
      faulted = 0;
      requests = 0;
    },
    get faulted() {
      return faulted;
    },
    get requests() {
      return requests;
    },
    close,
  };
}

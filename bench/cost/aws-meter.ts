import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { crc32 } from 'node:zlib';
import { listenOnLoopback, type LoopbackServer } from '../../scripts/local/loopback.ts';
import { forward } from '../../test/support/forward.ts';

/**
 * Counts the AWS requests the relay's real code makes, on the wire: a proxy in front of each
 * loopback stand-in (dynalite, s3rver, Secrets Manager, SQS, EventBridge), handed to the SDK's
 * clients through their `AWS_ENDPOINT_URL_*` variables, and one in front of the Deepvue
 * emulator, counting the calls Deepvue bills. Nothing in lib/ knows it is there: every
 * client the functions build, Powertools' own included, is counted, retries and all, which is
 * what AWS bills.
 *
 * DynamoDB's units are DynamoDB's own numbers: each request that can report them is sent with
 * `ReturnConsumedCapacity: TOTAL`, and dynalite answers `ConsumedCapacity` as DynamoDB computes
 * it. A write whose condition fails reports nothing, yet DynamoDB bills it the size of the item
 * it was checked against (at least one unit): the meter reads that item from dynalite, uncounted,
 * and also hands it back as the failure's `Item` when the request asked for it
 * (`ReturnValuesOnConditionCheckFailure: ALL_OLD`), as DynamoDB does and dynalite does not;
 * otherwise Powertools Idempotency would make a GetItem here that it never makes on AWS.
 */
export interface AwsCounts {
  dynamoReadUnits: number;
  dynamoWriteUnits: number;
  secretsCalls: number;
  s3PutRequests: number;
  s3GetRequests: number;
  s3DeleteRequests: number;
  sqsRequests: number;
  eventBridgeEvents: number;
  /** Liveness checks Deepvue received (what its plan charges), and authorize calls. */
  deepvueChecks: number;
  deepvueAuthorizations: number;
  /** Requests by service and operation (`dynamodb GetItem`, `s3 PUT ?tagging`, ...), for the reader. */
  operations: Record<string, number>;
}

export const noAwsCounts = (): AwsCounts => ({
  dynamoReadUnits: 0,
  dynamoWriteUnits: 0,
  secretsCalls: 0,
  s3PutRequests: 0,
  s3GetRequests: 0,
  s3DeleteRequests: 0,
  sqsRequests: 0,
  eventBridgeEvents: 0,
  deepvueChecks: 0,
  deepvueAuthorizations: 0,
  operations: {},
});

/** The loopback services behind the meter; each one left out is not metered. */
export interface AwsTargets {
  dynamodb?: string;
  s3?: string;
  secretsManager?: string;
  sqs?: string;
  eventBridge?: string;
  deepvue?: string;
}

export interface AwsMeter {
  /** The proxy in front of each target. */
  urls: Partial<Record<keyof AwsTargets, string>>;
  /** What was counted since the last `take`, and a fresh count from now on. */
  take(): AwsCounts;
  /** Adds requests made by AWS itself on the relay's behalf (S3's notifications, Lambda's SQS poller). */
  add(field: 'sqsRequests', operation: string, count?: number): void;
  close(): Promise<void>;
}

type Field = Exclude<keyof AwsCounts, 'operations'>;

/** DynamoDB operations that report ConsumedCapacity, and which units they consume. */
const DYNAMO_UNITS: Readonly<Record<string, 'dynamoReadUnits' | 'dynamoWriteUnits'>> = {
  GetItem: 'dynamoReadUnits',
  BatchGetItem: 'dynamoReadUnits',
  Query: 'dynamoReadUnits',
  Scan: 'dynamoReadUnits',
  TransactGetItems: 'dynamoReadUnits',
  PutItem: 'dynamoWriteUnits',
  UpdateItem: 'dynamoWriteUnits',
  DeleteItem: 'dynamoWriteUnits',
  BatchWriteItem: 'dynamoWriteUnits',
  TransactWriteItems: 'dynamoWriteUnits',
};

/** dynalite's own rule for an item's units: the rule DynamoDB documents (1 KB per write unit). */
const { capacityUnits } = createRequire(import.meta.url)('dynalite/db') as {
  capacityUnits: (item: Record<string, unknown> | undefined, isRead: boolean) => number;
};

export async function startAwsMeter(targets: AwsTargets): Promise<AwsMeter> {
  let counts = noAwsCounts();
  const count: Count = (field, operation, units = 1) => {
    if (field !== undefined) counts[field] += units;
    counts.operations[operation] = (counts.operations[operation] ?? 0) + 1;
  };
  const proxies: LoopbackServer[] = [];
  const urls: AwsMeter['urls'] = {};
  for (const [service, target] of Object.entries(targets) as Array<[keyof AwsTargets, string | undefined]>) {
    if (target === undefined) continue;
    const url = new URL(target);
    const handle = service === 'dynamodb'
      ? (request: IncomingMessage, response: ServerResponse) => void meterDynamo(url, request, response, count)
      : (request: IncomingMessage, response: ServerResponse) => {
        countRequest(service, request, count);
        forward(url, request, response);
      };
    const proxy = await listenOnLoopback(createServer(handle));
    proxies.push(proxy);
    urls[service] = proxy.url;
  }
  return {
    urls,
    take: () => {
      const taken = counts;
      counts = noAwsCounts();
      return taken;
    },
    add: (field, operation, times = 1) => {
      for (let time = 0; time < times; time += 1) count(field, operation);
    },
    close: async () => {
      await Promise.all(proxies.map((proxy) => proxy.close()));
    },
  };
}

/** Adds `units` to `field` (none: a request that costs nothing by itself) and one request to `operation`. */
type Count = (field: Field | undefined, operation: string, units?: number) => void;

/** Every request but DynamoDB's is counted by what it asks for and passed through untouched. */
function countRequest(service: Exclude<keyof AwsTargets, 'dynamodb'>, request: IncomingMessage, count: Count): void {
  const target = String(request.headers['x-amz-target'] ?? '');
  const operation = target.slice(target.indexOf('.') + 1);
  switch (service) {
    case 'secretsManager':
      return count('secretsCalls', `secretsmanager ${operation}`);
    case 'sqs':
      return count('sqsRequests', `sqs ${operation}`);
    case 'eventBridge':
      // Billed per event, not per request: the relay sends one entry per PutEvents.
      return count('eventBridgeEvents', `events ${operation}`);
    case 's3':
      return countS3(request, count);
    case 'deepvue': {
      const path = new URL(request.url ?? '/', 'http://deepvue').pathname;
      if (path === '/v1/liveness-check') return count('deepvueChecks', `deepvue ${path}`);
      if (path === '/v1/authorize') return count('deepvueAuthorizations', `deepvue ${path}`);
      return count(undefined, `deepvue ${path}`);
    }
  }
}

/**
 * S3 bills requests by class: PUT, COPY, POST and LIST at one price, GET and the rest at another,
 * DELETE free. The SDK addresses the loopback server path-style: `/<bucket>` or `/<bucket>/<key>`.
 */
function countS3(request: IncomingMessage, count: Count): void {
  const url = new URL(request.url ?? '/', 'http://s3');
  const onObject = url.pathname.split('/').filter((part) => part !== '').length > 1;
  const method = request.method ?? 'GET';
  // The SDK names its operation in `x-id`; a subresource (`?tagging`) or the method says the rest.
  const named = url.searchParams.get('x-id') ?? [...url.searchParams.keys()].find((name) => !name.startsWith('X-Amz-') && name !== 'versionId');
  const operation = `s3 ${method} ${onObject ? 'object' : 'bucket'}${named === undefined ? '' : ` (${named})`}`;
  if (method === 'DELETE') count('s3DeleteRequests', operation);
  else if (method === 'GET' || method === 'HEAD') count(onObject ? 's3GetRequests' : 's3PutRequests', operation);
  else count('s3PutRequests', operation);
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

const readAll = async (stream: IncomingMessage): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

function send(target: URL, method: string, path: string, headers: IncomingHttpHeaders, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest({ host: target.hostname, port: target.port, method, path, headers: { ...headers, 'content-length': String(body.length) } }, (answer) => {
      readAll(answer).then((received) => resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: received }), reject);
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

async function meterDynamo(target: URL, request: IncomingMessage, response: ServerResponse, count: Count): Promise<void> {
  try {
    const body = await readAll(request);
    const xAmzTarget = String(request.headers['x-amz-target'] ?? '');
    const operation = xAmzTarget.slice(xAmzTarget.indexOf('.') + 1);
    const units = DYNAMO_UNITS[operation];
    const input = JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>;
    if (units !== undefined) input.ReturnConsumedCapacity = 'TOTAL';
    // Signatures are not checked by dynalite, so the changed body passes.
    const answer = await send(target, request.method ?? 'POST', request.url ?? '/', request.headers, Buffer.from(JSON.stringify(input)));
    const name = `dynamodb ${operation}`;
    if (units === undefined) count(undefined, name);
    else if (answer.status === 200) count(units, name, consumed(JSON.parse(answer.body.toString('utf8')) as { ConsumedCapacity?: unknown }));
    else if (String(answer.headers['x-amzn-errortype'] ?? answer.body.toString('utf8')).includes('ConditionalCheckFailedException')) {
      const existing = await existingItem(target, request.headers, input);
      count('dynamoWriteUnits', `${name} (condition failed)`, capacityUnits(existing, false));
      if (input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && existing !== undefined) {
        answer.body = Buffer.from(JSON.stringify({ ...(JSON.parse(answer.body.toString('utf8')) as object), Item: existing }));
        answer.headers['x-amz-crc32'] = String(crc32(answer.body));
      }
    } else count(undefined, `${name} (failed: ${answer.status})`);
    response.writeHead(answer.status, { ...answer.headers, 'content-length': String(answer.body.length) });
    response.end(answer.body);
  } catch {
    response.destroy();
  }
}

/** ConsumedCapacity of one answer: one object, or a list of them (batch and transaction operations). */
function consumed(output: { ConsumedCapacity?: unknown }): number {
  const all = Array.isArray(output.ConsumedCapacity) ? output.ConsumedCapacity : [output.ConsumedCapacity];
  return all.reduce((sum: number, entry) => sum + (Number((entry as { CapacityUnits?: unknown } | undefined)?.CapacityUnits) || 0), 0);
}

/** The item a failed conditional write was checked against, read from dynalite without being counted. */
async function existingItem(target: URL, headers: IncomingHttpHeaders, input: Record<string, unknown>): Promise<Record<string, unknown> | undefined> {
  // The relay's tables have one key, the string `pk` (lib/platform/dynamo.ts).
  const key = input.Key ?? { pk: (input.Item as { pk?: unknown } | undefined)?.pk };
  const read = await send(target, 'POST', '/', { ...headers, 'x-amz-target': 'DynamoDB_20120810.GetItem' }, Buffer.from(JSON.stringify({ TableName: input.TableName, Key: key, ConsistentRead: true })));
  return (JSON.parse(read.body.toString('utf8')) as { Item?: Record<string, unknown> }).Item;
}

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Context, S3Event } from 'aws-lambda';
import { sessionRef } from '../../lib/sessions/session.ts';
import { createTable, localDynamoConfig, startDynalite, type RunningDynalite } from './dynalite.ts';
import { startLocalServer, type LocalServer } from './local-server.ts';
import { startPolicyGate, type PolicyGate } from './post-policy.ts';
import { S3RVER_CREDENTIALS, startS3rver, type RunningS3 } from './s3rver.ts';
import type { UploadHandler } from './uploads.ts';

/** The tables and bucket `npm start` uses when the environment names none. */
const RESULTS_TABLE = 'liveness-relay-local-results';
const BUCKET = 'liveness-relay-local-uploads';

/** What a backend gets from `POST /v1/liveness-sessions`. */
export interface OpenedSession {
  session_id: string;
  capture_url: string;
  expires_at: string;
}

/**
 * The whole capture flow on this machine, for browser tests and the capture bench: `npm start`
 * (the session routes, the capture page, the sandbox), its DynamoDB, and an S3-compatible bucket
 * that browsers may POST to (CORS), with S3's POST-policy checks, whose object-created events
 * drive the s3Upload handler.
 *
 * `npm start` does not yet embed the bucket and its events: until it does, this harness runs
 * them (s3rver behind test/support/post-policy.ts, s3Upload loaded in this process) and hands
 * `npm start` their endpoints. Everything else goes through `npm start` as a user's browser and
 * backend would.
 */
export interface CaptureStack {
  /** The API's base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  /** What `npm start` printed. */
  output(): string;
  /** The backend's call: opens a session (no API key locally). */
  openSession(reference?: string): Promise<OpenedSession>;
  /** The backend's read of a session. */
  readSession(id: string): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Ends the session's upload window now, as if its SESSION_TTL_SECONDS had passed. */
  expireNow(id: string): Promise<void>;
  /** Resolves once every object-created event so far has been handled by s3Upload. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

export async function startCaptureStack(env: Record<string, string | undefined> = {}): Promise<CaptureStack> {
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const closer of closers.reverse()) await closer().catch(() => undefined);
  };
  try {
    const dynamo: RunningDynalite = await startDynalite();
    closers.push(() => dynamo.close());
    await createTable(dynamo.endpoint, RESULTS_TABLE);
    // Browsers post from the page's origin, npm start's port: any loopback port.
    const s3: RunningS3 = await startS3rver([BUCKET], { corsOrigins: ['http://127.0.0.1:*'] });
    closers.push(() => s3.close());
    const gate: PolicyGate = await startPolicyGate(s3.endpoint);
    closers.push(() => gate.close());

    const shared = {
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      AWS_SESSION_TOKEN: undefined,
      AWS_PROFILE: undefined,
      AWS_REGION: 'us-east-1',
      UPLOAD_BUCKET: BUCKET,
      UPLOAD_PREFIX: undefined,
      DEEPVUE_SECRET_ID: undefined,
      DEEPVUE_CLIENT_ID: undefined,
      DEEPVUE_CLIENT_SECRET: undefined,
      TOKEN_TABLE: undefined,
      RESULTS_TABLE: undefined,
      ...env,
    };
    await pumpUploads(s3, { ...shared, AWS_ENDPOINT_URL_S3: s3.endpoint, RESULTS_TABLE });

    const server: LocalServer = await startLocalServer({ ...shared, AWS_ENDPOINT_URL_S3: gate.endpoint });
    closers.push(() => server.stop());

    const documents = DynamoDBDocumentClient.from(new DynamoDBClient(localDynamoConfig(dynamo.endpoint)));
    closers.push(async () => documents.destroy());

    const json = async (response: Response) => ({ status: response.status, body: (await response.json()) as Record<string, unknown> });
    return {
      url: server.url,
      output: () => server.output(),
      openSession: async (reference) => {
        const answer = await json(
          await fetch(`${server.url}/v1/liveness-sessions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(reference === undefined ? {} : { reference }),
          }),
        );
        if (answer.status !== 201) throw new Error(`no session: ${answer.status} ${JSON.stringify(answer.body)}`);
        return answer.body as unknown as OpenedSession;
      },
      readSession: async (id) => json(await fetch(`${server.url}/v1/liveness-sessions/${id}`)),
      expireNow: async (id) => {
        await documents.send(
          new UpdateCommand({
            TableName: RESULTS_TABLE,
            Key: { pk: `session#${sessionRef(id)}` },
            UpdateExpression: 'SET upload_until = :now',
            ExpressionAttributeValues: { ':now': Date.now() - 1 },
          }),
        );
      },
      settled: () => pumped.then(() => undefined),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Every object event handled so far. */
let pumped: Promise<unknown> = Promise.resolve();

/**
 * s3Upload on the bucket's object-created events, in this process, one event after the other,
 * answering from the sandbox: what `npm start` is to do itself. Imported once per process, with
 * its environment set first (the handler reads it at import). No vitest here: the capture bench
 * runs this harness outside the test runner.
 */
async function pumpUploads(s3: RunningS3, env: Record<string, string | undefined>): Promise<void> {
  for (const [name, value] of Object.entries({ ...env, AWS_LAMBDA_FUNCTION_NAME: undefined, IS_OFFLINE: 'true' })) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  const { handler } = (await import('../../functions/s3-upload.ts')) as unknown as { handler: UploadHandler };
  s3.onEvent((event: S3Event) => {
    if (!event.Records.some((record) => record.eventName.startsWith('ObjectCreated:'))) return;
    pumped = pumped.then(() => handler(event, invocation())).catch(() => undefined);
  });
}

/** A Lambda context with s3Upload's 30 s. */
function invocation(): Context {
  const deadline = Date.now() + 30_000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 's3Upload',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:s3Upload',
    memoryLimitInMB: '512',
    awsRequestId: `local-${Date.now()}`,
    logGroupName: '/aws/lambda/s3Upload',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { sessionRef } from '../../lib/sessions/session.ts';
import { localDynamoConfig, startDynalite, type RunningDynalite } from './dynalite.ts';
import { startLocalServer, type LocalServer } from './local-server.ts';

/** The results table `npm start` creates when the environment names none. */
const RESULTS_TABLE = 'liveness-relay-local-results';

/** What a backend gets from `POST /v1/liveness-sessions`. */
export interface OpenedSession {
  session_id: string;
  capture_url: string;
  expires_at: string;
}

/**
 * The whole capture flow on this machine, for browser tests and the capture bench: `npm start`
 * as a user runs it (the session routes, the capture page, its embedded S3-compatible bucket that
 * browsers may POST to, whose events drive s3Upload, and the sandbox), with its tables on a
 * dynalite of this process's own, so that a test can end a session's window without waiting.
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
  close(): Promise<void>;
}

export async function startCaptureStack(env: Record<string, string | undefined> = {}): Promise<CaptureStack> {
  const dynamo: RunningDynalite = await startDynalite();
  let server: LocalServer;
  try {
    // Nothing from the shell: the sandbox answers, and npm start embeds its bucket.
    server = await startLocalServer({
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_S3: undefined,
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
      AWS_SESSION_TOKEN: undefined,
      AWS_PROFILE: undefined,
      DEEPVUE_SECRET_ID: undefined,
      DEEPVUE_CLIENT_ID: undefined,
      DEEPVUE_CLIENT_SECRET: undefined,
      TOKEN_TABLE: undefined,
      RESULTS_TABLE: undefined,
      UPLOAD_BUCKET: undefined,
      UPLOAD_PREFIX: undefined,
      ...env,
    });
  } catch (error) {
    await dynamo.close();
    throw error;
  }
  const documents = DynamoDBDocumentClient.from(new DynamoDBClient(localDynamoConfig(dynamo.endpoint)));
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
    close: async () => {
      documents.destroy();
      await server.stop();
      await dynamo.close();
    },
  };
}

import type { StoredObject } from '../../lib/uploads/notifications.ts';
import { callApi, loadFunction, restEvent, type RestHandler } from './lambda.ts';
import { startPolicyGate, type PolicyGate } from './post-policy.ts';
import { BUCKET, PREFIX, startUploadPipeline, type UploadPipeline } from './uploads.ts';

/** The routes of `functions/liveness-sessions.ts`, by API Gateway resource. */
export type SessionRoute = 'open' | 'read' | 'upload' | 'progress';

const RESOURCES: Record<SessionRoute, { method: string; resource: string }> = {
  open: { method: 'POST', resource: '/v1/liveness-sessions' },
  read: { method: 'GET', resource: '/v1/liveness-sessions/{id}' },
  upload: { method: 'POST', resource: '/v1/liveness-sessions/{id}/upload' },
  progress: { method: 'GET', resource: '/v1/liveness-sessions/{id}/progress' },
};

/** The API's host and stage in the events the tests send: capture_url names them. */
export const API_HOST = 'a1b2c3d4e5.execute-api.us-east-1.amazonaws.com';
export const STAGE = 'prod';

export interface RouteAnswer {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
  requestId: string;
}

/** A presigned POST as the upload route answers it. */
export interface UploadForm {
  url: string;
  fields: Record<string, string>;
  max_bytes: number;
  expires_at: string;
}

/**
 * Liveness sessions on loopback servers: the upload pipeline (s3rver, dynalite, the Deepvue
 * emulator, s3Upload loaded in process) with S3's POST-policy checks in front of s3rver, and
 * `functions/liveness-sessions.ts` loaded as a container would load it. Every object s3rver
 * stores is remembered as its S3 event announced it, for delivery to s3Upload.
 */
export interface SessionsUnderTest {
  pipeline: UploadPipeline;
  gate: PolicyGate;
  /** The environment the functions are loaded with. */
  env: Record<string, string | undefined>;
  /** Calls a route of the sessions function; `id` is the path parameter as API Gateway passes it. */
  call(route: SessionRoute, options?: { id?: string; body?: string | null; headers?: Record<string, string>; handler?: RestHandler }): Promise<RouteAnswer>;
  /** Loads the sessions function again with `extra` over the environment. */
  load(extra?: Record<string, string | undefined>): Promise<RestHandler>;
  /** Opens a session and returns its id. */
  open(reference?: string): Promise<string>;
  /** The session's presigned POST, asserting it was given. */
  form(id: string, contentType?: string): Promise<UploadForm>;
  /** Sends `file` with the form's fields, as a browser would; `fields` overrides or adds fields. */
  post(form: UploadForm, file: Uint8Array, options?: { fields?: Record<string, string>; type?: string }): Promise<number>;
  /** The objects stored since the last call, as their S3 events name them. */
  takeStored(): StoredObject[];
  close(): Promise<void>;
}

export async function startSessions(env: Record<string, string | undefined> = {}): Promise<SessionsUnderTest> {
  const pipeline = await startUploadPipeline(env);
  const gate = await startPolicyGate(pipeline.s3Server.endpoint);
  const stored: StoredObject[] = [];
  pipeline.s3Server.onObjectEvent(({ eventName, bucket, key, eTag, size, sequencer, storedAt }) => {
    if (eventName.startsWith('ObjectCreated:') && bucket === BUCKET && key.startsWith(PREFIX)) stored.push({ bucket, key, eTag, size, sequencer, storedAt });
  });
  // Both functions reach the bucket through the gate: the presigned POST's URL is the S3 endpoint.
  const functionEnv = { ...pipeline.env, ...env, AWS_ENDPOINT_URL_S3: gate.endpoint };
  await pipeline.restart({ AWS_ENDPOINT_URL_S3: gate.endpoint });
  const load = async (extra: Record<string, string | undefined> = {}) =>
    loadFunction('liveness-sessions', { ...functionEnv, AWS_LAMBDA_FUNCTION_NAME: 'livenessSessions', ...extra });
  const sessions = await load();

  const call: SessionsUnderTest['call'] = async (route, options = {}) => {
    const { method, resource } = RESOURCES[route];
    const path = options.id === undefined ? resource : resource.replace('{id}', options.id);
    const base = restEvent(method, path, { body: options.body ?? null, headers: options.headers ?? { Host: API_HOST, 'X-Forwarded-Proto': 'https' } });
    const event = {
      ...base,
      resource,
      pathParameters: options.id === undefined ? null : { id: options.id },
      requestContext: { ...base.requestContext, resourcePath: resource, path: `/${STAGE}${path}`, stage: STAGE },
    };
    const answer = await callApi(options.handler ?? sessions, event, 10_000);
    return { ...answer, body: answer.body as Record<string, unknown> };
  };

  const form: SessionsUnderTest['form'] = async (id, contentType) => {
    const answer = await call('upload', { id, body: contentType === undefined ? null : JSON.stringify({ content_type: contentType }) });
    if (answer.status !== 200) throw new Error(`no upload form: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body as unknown as UploadForm;
  };

  return {
    pipeline,
    gate,
    env: functionEnv,
    call,
    load,
    open: async (reference) => {
      const answer = await call('open', { body: reference === undefined ? null : JSON.stringify({ reference }) });
      if (answer.status !== 201) throw new Error(`no session: ${answer.status} ${JSON.stringify(answer.body)}`);
      return answer.body.session_id as string;
    },
    form,
    post: async (upload, file, options = {}) => {
      const data = new FormData();
      for (const [name, value] of Object.entries({ ...upload.fields, ...options.fields })) data.append(name, value);
      data.append('file', new Blob([file], { type: options.type ?? upload.fields['Content-Type'] ?? 'image/jpeg' }), 'selfie.jpg');
      const response = await fetch(upload.url, { method: 'POST', body: data });
      await response.arrayBuffer();
      return response.status;
    },
    takeStored: () => stored.splice(0),
    close: async () => {
      await gate.close();
      await pipeline.close();
    },
  };
}

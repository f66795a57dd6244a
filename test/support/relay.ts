import { readFileSync } from 'node:fs';
import { beforeEach, expect } from 'vitest';
import { DOCUMENTED_ANSWERS, type DocumentedAnswerName } from '../../lib/deepvue/documented.ts';
import { startDeepvueEmulator, type DeepvueEmulator, type UpstreamPath } from './deepvue-emulator.ts';
import { useStarted } from './hooks.ts';
import { invoke, loadFunction, postImage, type HttpAnswer, type RestHandler, type RestRequest } from './lambda.ts';
import { signingKeySecret, SIGNING_KEY_SECRET_ID, startSecretsManager, type SecretsManagerEndpoint } from './secrets-manager.ts';
import { captureOutput, type CapturedOutput } from './output.ts';

/** The Deepvue client the relay's secret names, known to the emulator. */
export const CLIENT = { id: 'relay-client', secret: 'relay-secret-1f2e3d' } as const;
export const SECRET_ID = 'deepvue/liveness-relay';
export const secretValue = (clientId: string, clientSecret: string): string =>
  JSON.stringify({ client_id: clientId, client_secret: clientSecret });

export type FixtureImage =
  | 'face-480p.jpg'
  | 'face.png'
  | 'live-selfie-exif-rotated.jpg'
  | 'spoof-printed-photo.jpg'
  | 'two-faces.jpg'
  | 'partial-face.jpg'
  | 'no-face-diagram.jpg';

/** A real photograph from test/fixtures/images (see SOURCES.md there). */
export function fixtureImage(name: FixtureImage): Buffer {
  return readFileSync(new URL(`../fixtures/images/${name}`, import.meta.url));
}

/**
 * `functions/liveness-check.ts` loaded as a deployed container would be: credentials from a
 * loopback Secrets Manager, Deepvue played by the emulator, output captured.
 */
export interface RelayUnderTest {
  deepvue: DeepvueEmulator;
  secrets: SecretsManagerEndpoint;
  output: CapturedOutput;
  handler(): RestHandler;
  post(image: unknown, remainingMs?: number): Promise<HttpAnswer>;
  invoke(request: RestRequest): Promise<HttpAnswer>;
  /** The environment the handler was last loaded with (to load other functions of the same deployment). */
  env(): Record<string, string | undefined>;
  /** Starts a new container: imports the handler again with the default environment plus `env`. */
  restart(env?: Record<string, string | undefined>): Promise<void>;
  /** Calls received by the emulator since the last `deepvue.clearCalls()`. */
  upstreamCalls(path?: UpstreamPath): number;
  close(): Promise<void>;
}

export interface RelayOptions {
  env?: Record<string, string | undefined>;
  inactiveClients?: string[];
}

export async function startRelay(options: RelayOptions = {}): Promise<RelayUnderTest> {
  const deepvue = await startDeepvueEmulator({
    clients: { [CLIENT.id]: CLIENT.secret },
    ...(options.inactiveClients === undefined ? {} : { inactiveClients: options.inactiveClients }),
  });
  const secrets = await startSecretsManager({ [SECRET_ID]: secretValue(CLIENT.id, CLIENT.secret), [SIGNING_KEY_SECRET_ID]: signingKeySecret() });
  const output = captureOutput();
  // Every variable the relay or the SDK reads is set or cleared, so nothing leaks in from the shell.
  const baseEnv: Record<string, string | undefined> = {
    DEEPVUE_BASE_URL: deepvue.baseUrl,
    DEEPVUE_SECRET_ID: SECRET_ID,
    SIGNING_KEY_SECRET_ID,
    DEEPVUE_CLIENT_ID: undefined,
    DEEPVUE_CLIENT_SECRET: undefined,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_SESSION_TOKEN: undefined,
    AWS_PROFILE: undefined,
    AWS_LAMBDA_FUNCTION_NAME: 'livenessCheck',
    IS_OFFLINE: undefined,
    IS_LOCAL: undefined,
    TOKEN_TABLE: undefined,
    RESULTS_TABLE: undefined,
    DEEPVUE_RATE_LIMITS: undefined,
    DEEPVUE_RATE_CONTAINERS: undefined,
    DEEPVUE_RATE_MARGIN_MS: undefined,
    DEEPVUE_RATE_API_RESERVE_PERCENT: undefined,
    MAX_IMAGE_BYTES: undefined,
    UPSTREAM_DEADLINE_MS: undefined,
    SECRET_MAX_AGE_SECONDS: undefined,
    METRICS_NAMESPACE: 'LivenessRelayTest',
    POWERTOOLS_DEV: undefined,
    ...options.env,
  };
  let env = baseEnv;
  let handler = await loadFunction('liveness-check', env);

  return {
    deepvue,
    secrets,
    output,
    handler: () => handler,
    post: (image, remainingMs) => postImage(handler, image, remainingMs),
    invoke: (request) => invoke(handler, request),
    env: () => env,
    restart: async (changes = {}) => {
      env = { ...baseEnv, ...changes };
      handler = await loadFunction('liveness-check', env);
    },
    upstreamCalls: (path) => deepvue.calls(path).length,
    close: async () => {
      output.restore();
      await Promise.all([deepvue.close(), secrets.close()]);
    },
  };
}

export interface UseRelayOptions extends RelayOptions {
  /** Before each test, ahead of the clearing: warm the container, reset a fault, restart. */
  beforeEach?: (relay: RelayUnderTest) => unknown;
}

/**
 * The relay of a test file, or of a `describe`: started before its tests, closed after them, and
 * before each test cleared of the emulator's calls and the captured output, so that a test counts
 * only its own. Pass a function for options known only once an earlier `beforeAll` has run (a
 * table's endpoint, say).
 *
 * @example
 * const relay = useRelay({ beforeEach: (relay) => relay.post(PHOTO) }); // a warm container for each test
 */
export function useRelay(options: UseRelayOptions | (() => UseRelayOptions) = {}): RelayUnderTest {
  let prepare: UseRelayOptions['beforeEach'];
  const relay = useStarted(() => {
    const { beforeEach: each, ...relayOptions } = typeof options === 'function' ? options() : options;
    prepare = each;
    return startRelay(relayOptions);
  });
  beforeEach(async () => {
    await prepare?.(relay);
    relay.deepvue.clearCalls();
    relay.output.clear();
  });
  return relay;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The documented body `name` as the sandbox sends it, to compare an answer with: as documented
 * (timestamp null and all), with a fresh transaction_id, and `changes` to top-level fields.
 */
export const sandboxBody = (name: DocumentedAnswerName, changes: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ ...DOCUMENTED_ANSWERS[name].body, transaction_id: expect.stringMatching(UUID) as unknown, ...changes });

/** Headers every answer carries; Retry-After exactly on 409, 429 and 503. */
export function expectAnswerHeaders(answer: HttpAnswer, provider = 'deepvue'): void {
  expect(answer.headers['content-type']).toBe('application/json');
  expect(answer.headers['x-request-id']).toBe(answer.requestId);
  expect(answer.headers['x-liveness-provider']).toBe(provider);
  if ([409, 429, 503].includes(answer.status)) expect(answer.headers['retry-after']).toMatch(/^[1-9]\d*$/);
  else expect(answer.headers['retry-after']).toBeUndefined();
}

/** An answer the relay made itself: the contract's envelope, status and headers. */
export function expectRelayAnswer(answer: HttpAnswer, status: number, subCode: string, provider = 'deepvue'): void {
  expect({ status: answer.status, body: answer.body }).toEqual({
    status,
    body: { code: status, timestamp: expect.any(Number), transaction_id: expect.stringMatching(UUID), sub_code: subCode, message: expect.any(String) },
  });
  const { timestamp, message } = answer.body as { timestamp: number; message: string };
  expect(Math.abs(Date.now() - timestamp)).toBeLessThan(60_000);
  expect(message).not.toBe('');
  expect(message).not.toContain(CLIENT.secret);
  expectAnswerHeaders(answer, provider);
}

/** An upstream envelope relayed with the upstream's status. */
export function expectUpstreamAnswer(answer: HttpAnswer, status: number, subCode: string): void {
  expect(answer.status).toBe(status);
  expect(answer.body).toMatchObject({ code: status, sub_code: subCode, transaction_id: expect.any(String) });
  expectAnswerHeaders(answer);
}

import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { notifies, printService, readService, type LocalService } from '../../../scripts/local/service.ts';

/** What `npm start` reads from serverless.yml: the real file as printed, and shapes it does not have yet. */
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

describe('the service npm start serves, from serverless.yml as printed for stage local', () => {
  let service: LocalService;
  beforeAll(async () => {
    const env: Record<string, string | undefined> = { ...process.env, UPLOAD_BUCKET: 'local-bucket', UPLOAD_MAX_RECEIVE_COUNT: '4', UPLOAD_PREFIX: 'in/' };
    for (const name of ['TOKEN_TABLE', 'RESULTS_TABLE', 'DEEPVUE_SECRET_ID', 'METRICS_NAMESPACE']) delete env[name];
    service = readService(await printService(repoRoot, 'local', env));
  }, 60_000);

  it('serves every http event of every function, and nothing else', () => {
    expect(service.routes.map(({ method, path, functionKey }) => `${method} ${path} ${functionKey}`)).toEqual(
      expect.arrayContaining(['POST /v1/liveness-check livenessCheck', 'GET /v1/liveness-results/{key+} livenessResult']),
    );
    for (const route of service.routes) expect(service.functions.get(route.functionKey)?.handler).toMatch(/^functions\//);
  });

  it('hands the functions the local stage’s environment, which follows the shell', () => {
    expect(service.environment).toMatchObject({ UPLOAD_BUCKET: 'local-bucket', UPLOAD_PREFIX: 'in/', UPLOAD_MAX_RECEIVE_COUNT: '4', METRICS_NAMESPACE: 'LivenessRelay', DEEPVUE_SECRET_ID: '' });
    expect(service.functions.get('livenessCheck')).toMatchObject({ name: 'liveness-relay-local-livenessCheck', timeoutSeconds: 25 });
  });

  it('wires the bucket’s notifications to the queue that feeds s3Upload, with its redrive policy', () => {
    expect(service.queueSources).toEqual([{ queue: 'UploadQueue', queueName: 'liveness-relay-local-uploads', functionKey: 's3Upload', batchSize: 10, maximumConcurrency: 2, maxReceiveCount: 4 }]);
    const notifications = service.bucketNotifications;
    expect(new Set(notifications.map((n) => `${n.bucket} ${n.queue} ${n.event} ${n.prefix}`))).toEqual(new Set(['local-bucket UploadQueue s3:ObjectCreated:* in/']));
    expect(notifications.map((n) => n.suffix).sort()).toEqual(['.JPEG', '.JPG', '.PNG', '.WEBP', '.jpeg', '.jpg', '.png', '.webp']);
  });

  it('reads the upload bucket’s CORS rule, which npm start applies to its own origins', () => {
    expect(service.bucketCors).toEqual([{ bucket: 'local-bucket', methods: ['POST'], headers: ['content-type'], maxAgeSeconds: 600 }]);
  });
});

describe('readService, on configurations serverless.yml may grow into', () => {
  const printed = {
    provider: { environment: { SHARED: 'x' }, timeout: 12, memorySize: 512, apiGateway: { binaryMediaTypes: ['image/*'] } },
    functions: {
      openSession: { handler: 'functions/sessions.open', events: [{ http: { method: 'post', path: 'v1/liveness-sessions' } }] },
      sessionProgress: { handler: 'functions/sessions.progress', timeout: 3, events: [{ http: 'GET /v1/liveness-sessions/{id}/progress' }] },
      capturePage: { handler: 'functions/capture.page', environment: { PAGE_TITLE: 'Selfie' }, events: [{ http: { method: 'get', path: '/capture', cors: true } }] },
      upload: { handler: 'functions/upload.handler', events: [{ sqs: 'arn:aws:sqs:us-east-1:1:someone-elses' }] },
    },
  };

  it('reads shorthand and object http events, function settings, cors and binary media types', () => {
    const service = readService(printed);
    expect(service.routes).toEqual([
      { functionKey: 'openSession', method: 'POST', path: '/v1/liveness-sessions', cors: undefined },
      { functionKey: 'sessionProgress', method: 'GET', path: '/v1/liveness-sessions/{id}/progress', cors: undefined },
      { functionKey: 'capturePage', method: 'GET', path: '/capture', cors: { origins: ['*'], headers: expect.arrayContaining(['Content-Type', 'X-Api-Key']), allowCredentials: false } },
    ]);
    expect(service.functions.get('openSession')).toMatchObject({ timeoutSeconds: 12, memorySize: 512 });
    expect(service.functions.get('sessionProgress')).toMatchObject({ timeoutSeconds: 3 });
    expect(service.environment).toEqual({ SHARED: 'x', PAGE_TITLE: 'Selfie' });
    expect(service.binaryMediaTypes).toEqual(['image/*']);
    // A queue of another stack is not this one's to feed.
    expect(service.queueSources).toEqual([]);
  });

  it('refuses what one process cannot run: two functions setting one variable differently, or an unresolved value', () => {
    const clash = structuredClone(printed);
    Object.assign(clash.functions.openSession, { environment: { SHARED: 'y' } });
    expect(() => readService(clash)).toThrow(/SHARED differs/);
    const reference = structuredClone(printed);
    Object.assign(reference.provider.environment, { TABLE: { Ref: 'Table' } });
    expect(() => readService(reference)).toThrow(/TABLE is not a plain value/);
  });

  it('reads an `integration: mock` event as the integration the framework compiles, and refuses forms it would have to guess', () => {
    const mockEvent = {
      method: 'post',
      path: '/v1/token',
      integration: 'mock',
      request: { passThrough: 'NEVER', template: { 'application/json': '{"statusCode": 200}' } },
      response: { headers: { 'x-request-id': 'context.requestId' }, statusCodes: { 200: { pattern: '' }, 400: { pattern: '4\\d\\d', template: '{}', headers: { 'Retry-After': "'1'" } } } },
    };
    const withMock = structuredClone(printed);
    Object.assign(withMock.functions.openSession, { events: [{ http: mockEvent }] });
    expect(readService(withMock).routes[0]?.mock).toEqual({
      PassthroughBehavior: 'NEVER',
      RequestTemplates: { 'application/json': '{"statusCode": 200}' },
      IntegrationResponses: [
        { StatusCode: '200', SelectionPattern: '', ResponseParameters: { 'method.response.header.x-request-id': 'context.requestId' }, ResponseTemplates: {} },
        {
          StatusCode: '400',
          SelectionPattern: '4\\d\\d',
          ResponseParameters: { 'method.response.header.x-request-id': 'context.requestId', 'method.response.header.Retry-After': "'1'" },
          ResponseTemplates: { 'application/json': '{}' },
        },
      ],
    });
    for (const unguessed of [{ ...mockEvent, cors: true }, { ...mockEvent, response: {} }]) {
      Object.assign(withMock.functions.openSession, { events: [{ http: unguessed }] });
      expect(() => readService(withMock)).toThrow(/npm start serves a mock integration with response.statusCodes and without cors/);
    }
  });

  it('matches S3 events to a notification as S3 does: event pattern, prefix, suffix', () => {
    const notification = { bucket: 'b', queue: 'Q', event: 's3:ObjectCreated:*', prefix: 'uploads/', suffix: '.jpg' };
    expect(notifies(notification, 'ObjectCreated:Post', 'uploads/a.jpg')).toBe(true);
    expect(notifies(notification, 'ObjectRemoved:Delete', 'uploads/a.jpg')).toBe(false);
    expect(notifies(notification, 'ObjectCreated:Put', 'other/a.jpg')).toBe(false);
    expect(notifies(notification, 'ObjectCreated:Put', 'uploads/a.JPG')).toBe(false);
    expect(notifies({ ...notification, event: 's3:ObjectCreated:Put' }, 'ObjectCreated:Copy', 'uploads/a.jpg')).toBe(false);
  });
});

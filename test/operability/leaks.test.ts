import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { errors } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxBodyChars } from '../../lib/http/middleware.ts';
import { logger } from '../../lib/platform/logger.ts';
import { AUTHORIZE, CHECK, faults, type DeepvueEmulator, type Fault } from '../support/deepvue-emulator.ts';
import { localDynamoConfig, startDynalite, type RunningDynalite } from '../support/dynalite.ts';
import { jsonLines } from '../support/emf.ts';
import { restEvent } from '../support/lambda.ts';
import { captureOutput } from '../support/output.ts';
import { CLIENT, fixtureImage, SECRET_ID, secretValue, startRelay, type RelayUnderTest } from '../support/relay.ts';
import { MAX_RECEIVE_COUNT, usePipeline } from '../support/uploads.ts';


/** What callers send that is theirs: the API key API Gateway checks, an authorizer's token. */
const CALLER_KEY = 'caller-api-key-7Hq2LmX9vR4tW8zP';
const CALLER_SESSION = 'caller-session-Kd83nQp01Zx';
const CALLER_HEADERS = { 'Content-Type': 'application/json', 'x-api-key': CALLER_KEY, Authorization: `Bearer ${CALLER_SESSION}` };

const LIVE = fixtureImage('live-selfie-exif-rotated.jpg');
const FACE = fixtureImage('face.png');
const SPOOF = fixtureImage('spoof-printed-photo.jpg');
const PDF = Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n'.repeat(40));
const IMAGES = [LIVE, FACE, SPOOF, PDF];

/** How the images travel: standard base64, and URL-safe in lines behind a data: prefix. */
const standard = (bytes: Buffer) => bytes.toString('base64');
const urlSafeWrapped = (bytes: Buffer) => `data:image/png;base64,${bytes.toString('base64url').replace(/.{76}/g, '$&\n')}`;

const WINDOW = 24;

/**
 * Pieces of WINDOW characters of the images' base64 (both alphabets), one every WINDOW / 2: any
 * leaked run of 1.5 × WINDOW (36) characters or more contains one. Pieces with few distinct
 * characters (runs of `A` in a PNG) could match by chance and are left out.
 */
const IMAGE_PIECES = new Set(IMAGES.flatMap((bytes) => [bytes.toString('base64'), bytes.toString('base64url')]).flatMap((encoded) =>
  Array.from({ length: Math.floor((encoded.length - WINDOW) / (WINDOW / 2)) + 1 }, (_, n) => encoded.slice(n * (WINDOW / 2), n * (WINDOW / 2) + WINDOW))
    .filter((piece) => new Set(piece).size >= 12)));

/** The first piece of an image's base64 found in `text`. */
function leakedImage(text: string): string | undefined {
  for (let at = 0; at + WINDOW <= text.length; at += 1) {
    const window = text.slice(at, at + WINDOW);
    if (IMAGE_PIECES.has(window)) return window;
  }
  return undefined;
}

/** The access tokens Deepvue issued that the relay used, and the random part of each. */
const tokensUsed = (deepvue: DeepvueEmulator) =>
  deepvue.calls(CHECK).flatMap((call) => {
    const token = call.headers.authorization?.slice('Bearer '.length) ?? '';
    return token === '' ? [] : [token, token.split('.').at(-1) ?? token];
  });

function expectNothingSecret(text: string, tokens: string[]): void {
  expect(text).not.toContain(CLIENT.secret);
  for (const token of tokens) expect(text).not.toContain(token);
  // Any JWT at all: catches a token issued but never used in a check.
  expect(text).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/);
  expect(text).not.toContain(CALLER_KEY);
  expect(text).not.toContain(CALLER_SESSION);
  expect(leakedImage(text)).toBeUndefined();
}

describe('the leak detector', () => {
  it('finds a 36-character piece of an image anywhere in a text, and nothing in a clean one', () => {
    const base64 = standard(LIVE);
    expect(leakedImage(`{"error":"bad: ${base64.slice(5001, 5037)}"}`)).toBeDefined();
    expect(leakedImage(`{"x":"${FACE.toString('base64url').slice(40_003, 40_039)}"}`)).toBeDefined();
    expect(leakedImage('{"message":"liveness check finished","sub_code":"SUCCESS"}')).toBeUndefined();
  });
});

describe('POST /v1/liveness-check: every error path, output captured', () => {
  let relay: RelayUnderTest;
  let dynalite: RunningDynalite;

  beforeAll(async () => {
    [relay, dynalite] = await Promise.all([startRelay(), startDynalite()]);
  });
  afterAll(async () => {
    await relay.restart({ POWERTOOLS_LOGGER_LOG_EVENT: undefined, POWERTOOLS_LOG_LEVEL: undefined, AWS_ENDPOINT_URL_DYNAMODB: undefined });
    await Promise.all([relay.close(), dynalite.close()]);
  });

  const send = (image: unknown, remainingMs?: number) =>
    relay.invoke({ body: JSON.stringify({ image }), headers: CALLER_HEADERS, ...(remainingMs === undefined ? {} : { remainingMs }) });
  const sendBody = (body: string, contentType = 'application/json') =>
    relay.invoke({ body, headers: { ...CALLER_HEADERS, 'Content-Type': contentType } });
  const faulty = async (path: typeof CHECK | typeof AUTHORIZE, fault: Fault, times = 1, remainingMs?: number) => {
    relay.deepvue.inject(path, fault, times);
    return send(standard(LIVE), remainingMs);
  };

  it('never writes the client secret, a token, an image or a caller’s credentials', async () => {
    const photo = standard(LIVE);
    const answers: number[] = [];
    const run = async (step: Promise<{ status: number }>) => answers.push((await step).status);

    // Requests the relay refuses, the image inside each.
    await run(sendBody(`{"image": "${photo}"`));
    await run(sendBody(JSON.stringify({ image: photo }), 'text/plain'));
    await run(sendBody(`{"__proto__": {"image": "${photo}"}}`));
    await run(sendBody(JSON.stringify({ image: 42, photo })));
    await run(send(`${photo.slice(0, 30_000)}!${photo.slice(30_000)}`));
    await run(send(standard(PDF)));
    await run(sendBody(JSON.stringify({ image: photo.repeat(Math.ceil(maxBodyChars(4 * 1024 * 1024) / photo.length)) })));
    // Answers, in both alphabets.
    await run(send(photo));
    await run(send(urlSafeWrapped(FACE)));
    await run(send(standard(SPOOF)));
    // Upstream faults on the check.
    await run(faulty(CHECK, faults.invalidToken(), 2));
    await run(faulty(CHECK, faults.notAuthenticated(), 2));
    relay.deepvue.revokeTokens();
    await run(send(photo));
    await run(faulty(CHECK, faults.serverError(), 3));
    await run(faulty(CHECK, faults.unavailable(), 3));
    await run(faulty(CHECK, faults.rateLimited(60)));
    await run(faulty(CHECK, faults.hang(), 1, 2500));
    await run(faulty(CHECK, faults.stall(), 1, 2500));
    await run(faulty(CHECK, faults.reset(), 3));
    await run(faulty(CHECK, faults.notJson()));
    await run(faulty(CHECK, faults.inactiveClient()));
    await run(faulty(CHECK, faults.forbidden()));
    // Faults of authorize, in new containers.
    for (const [fault, times] of [[faults.inactiveClient(), 1], [faults.serverError(), 3], [faults.notJson(), 1]] as const) {
      await relay.restart();
      await run(faulty(AUTHORIZE, fault, times));
    }
    // Secrets Manager down at cold start (no signing key: refused before any call), and secrets
    // that do not parse, one quoting the client secret.
    relay.secrets.failNext(10);
    await relay.restart();
    await run(send(photo));
    relay.secrets.failNext(0);
    for (const broken of [`client_id=${CLIENT.id}&client_secret=${CLIENT.secret}`, JSON.stringify({ client_secret: CLIENT.secret })]) {
      relay.secrets.setSecret(SECRET_ID, broken);
      await relay.restart();
      await run(send(photo));
    }
    relay.secrets.setSecret(SECRET_ID, secretValue(CLIENT.id, CLIENT.secret));
    // A token table whose SDK calls fail (no such table): the SDK's errors reach the logs' code path.
    await relay.restart({ TOKEN_TABLE: 'missing-token-table', AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint });
    await run(send(photo));
    // Deployed without configuration: an unexpected failure.
    await relay.restart({ DEEPVUE_SECRET_ID: undefined, TOKEN_TABLE: undefined });
    await run(send(photo));
    // Event logging asked for by the environment, at DEBUG.
    await relay.restart({ POWERTOOLS_LOGGER_LOG_EVENT: 'true', POWERTOOLS_LOG_LEVEL: 'DEBUG' });
    await run(send(photo));

    expect(answers).toEqual([
      422, 422, 422, 422, 422, 422, 413,
      200, 200, 200,
      502, 502, 200, 500, 503, 429, 504, 504, 503, 502, 502, 502,
      502, 503, 502,
      500, 503, 503,
      200, 500, 200,
    ]);
    const text = relay.output.text();
    // The capture saw the relay: one finished line per answer, and the failures' own lines.
    expect(jsonLines(text).filter((line) => line.message === 'liveness check finished')).toHaveLength(answers.length);
    for (const message of ['Deepvue credentials unavailable', 'token table unavailable', 'unexpected failure in the liveness-check handler']) {
      expect(text).toContain(message);
    }
    expectNothingSecret(text, tokensUsed(relay.deepvue));
  });
});

describe('s3Upload: error paths, output captured', () => {
  const pipeline = usePipeline();


  it('never writes the client secret, a token or an uploaded image', async () => {
    const objects = await Promise.all(
      [LIVE, SPOOF, FACE, PDF, LIVE, SPOOF, FACE].map((bytes, n) => pipeline.put(`uploads/leaks/${n}.bin`, Buffer.concat([bytes, Buffer.from([n])]))),
    );
    pipeline.deepvue.inject(CHECK, faults.invalidToken(), 2);
    pipeline.deepvue.inject(CHECK, faults.serverError());
    pipeline.deepvue.inject(CHECK, faults.notJson());
    pipeline.deepvue.inject(CHECK, faults.rateLimited(1));
    pipeline.deepvue.inject(CHECK, faults.reset());

    const answer = await pipeline.deliver(objects.map((object, n) => ({ object, messageId: `m-${n}`, receiveCount: n % 2 === 0 ? MAX_RECEIVE_COUNT : 1 })));

    expect(answer.batchItemFailures.length).toBeGreaterThan(0);
    const text = pipeline.output.text();
    expect(text).toContain('upload check to be retried');
    expect(jsonLines(text).filter((line) => line.message === 'liveness check finished').length).toBeGreaterThan(0);
    expectNothingSecret(text, tokensUsed(pipeline.deepvue));
  });
});

describe('the logger, when code logs what a dependency threw', () => {
  it('writes none of the request, body or headers attached to the error', async () => {
    const relay = await startRelay();
    await relay.post(standard(LIVE));
    const [token = ''] = tokensUsed(relay.deepvue);
    await relay.close();
    expect(token).toMatch(/^eyJ/);
    const photo = standard(LIVE);

    // middy's JSON body parser keeps the raw body in `cause.data`.
    const parserError = await (async () => {
      const event = restEvent('POST', '/v1/liveness-check', { body: `{"image": "${photo}"`, headers: CALLER_HEADERS });
      try {
        await httpJsonBodyParser().before?.({ event } as never);
      } catch (error) {
        return error;
      }
      throw new Error('the parser accepted a truncated body');
    })();
    // undici keeps the answer's body and headers.
    const undiciError = new errors.ResponseError('Response Error', 401, { headers: { authorization: `Bearer ${token}` }, body: { image: photo } });
    // The AWS SDK keeps $metadata and the raw response; the request carried the token.
    const dynalite = await startDynalite();
    const client = new DynamoDBClient(localDynamoConfig(dynalite.endpoint));
    const sdkError = await client
      .send(new PutItemCommand({ TableName: 'no-such-table', Item: { pk: { S: 'token' }, value: { S: token } } }))
      .then(() => new Error('dynalite accepted a put into a table that does not exist'), (error: unknown) => error);
    client.destroy();
    await dynalite.close();
    const event: APIGatewayProxyEvent = restEvent('POST', '/v1/liveness-check', { body: JSON.stringify({ image: photo }), headers: CALLER_HEADERS });

    const output = captureOutput();
    try {
      logger.error('parser failed', parserError as Error);
      logger.error('upstream refused', { error: undiciError });
      logger.warn('token table failed', { error: sdkError });
      logger.info('Lambda invocation event', { event });
      logger.warn(`Deepvue refused Authorization: Bearer ${token}`);
      logger.info('credentials', { client_secret: CLIENT.secret, clientSecret: CLIENT.secret, access_token: token, image: photo });
    } finally {
      output.restore();
    }
    const lines = jsonLines(output.text());
    expect(lines.map((line) => line.message)).toEqual([
      'parser failed', 'upstream refused', 'token table failed', 'Lambda invocation event', expect.stringContaining('Bearer [redacted]'), 'credentials',
    ]);
    // What helps an operator stays: the error's class, message and status.
    expect(lines[1]?.error).toMatchObject({ name: 'ResponseError', statusCode: 401 });
    expect(lines[2]?.error).toMatchObject({ name: 'ResourceNotFoundException' });
    expectNothingSecret(output.text(), [token]);
  });
});

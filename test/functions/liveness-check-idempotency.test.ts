import { DynamoDBClient, ScanCommand, UpdateItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECK, faults } from '../support/deepvue-emulator.ts';
import { localDynamoConfig, useDynalite } from '../support/dynalite.ts';
import { refusedUrl } from '../support/blackhole.ts';
import type { HttpAnswer } from '../support/lambda.ts';
import { expectAnswerHeaders, expectRelayAnswer, expectUpstreamAnswer, fixtureImage, useRelay } from '../support/relay.ts';

/**
 * `Idempotency-Key` on POST /v1/liveness-check: repeats answered from the record without an
 * upstream call, the key bound to one image, in-flight repeats refused, and only final answers
 * kept. The records live in RESULTS_TABLE on a dynalite server.
 */
const RESULTS_TABLE = 'liveness-results-idempotency-test';
const PHOTO = fixtureImage('face-480p.jpg').toString('base64');
const OTHER_PHOTO = fixtureImage('face.png').toString('base64');

const dynalite = useDynalite(RESULTS_TABLE);
let table: DynamoDBClient;
let sequence = 0;

beforeAll(() => {
  table = new DynamoDBClient(localDynamoConfig(dynalite.endpoint));
});
afterAll(() => table.destroy());
// Its hooks come after the table's: started once the table is, closed before it.
const relay = useRelay(() => ({ env: { RESULTS_TABLE, AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint, UPSTREAM_DEADLINE_MS: '2000' } }));

/** A key no other test uses. */
const freshKey = () => `order-${(sequence += 1)}-7f3c`;

function post(image: string, key: string | undefined, extra: { apiKeyId?: string; multiValueHeaders?: Record<string, string[]> } = {}): Promise<HttpAnswer> {
  return relay.invoke({
    body: JSON.stringify({ image }),
    headers: { 'Content-Type': 'application/json', ...(key === undefined ? {} : { 'Idempotency-Key': key }) },
    ...extra,
  });
}

const checks = () => relay.upstreamCalls(CHECK);

/** The stored records under the `api-request` prefix. */
async function records(): Promise<Array<Record<string, AttributeValue>>> {
  const { Items = [] } = await table.send(new ScanCommand({ TableName: RESULTS_TABLE }));
  return Items.filter((item) => item.pk?.S?.startsWith('api-request#'));
}

describe('a repeat of a key with the same image', () => {
  it('gets the first answer again with Idempotent-Replayed: true and no upstream call', async () => {
    const key = freshKey();
    const first = await post(PHOTO, key);
    expectUpstreamAnswer(first, 200, 'SUCCESS');
    expect(first.headers['idempotent-replayed']).toBeUndefined();

    const again = await post(PHOTO, key);

    expect(checks()).toBe(1);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    // The same verdict, so the same signature: it was kept with the answer.
    expect(first.headers['x-liveness-signature']).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(again.headers['x-liveness-signature']).toBe(first.headers['x-liveness-signature']);
    expectAnswerHeaders(again);
    // Each answer carries its own request's id; the envelope (and its transaction_id) is the first one's.
    expect(again.headers['x-request-id']).not.toBe(first.headers['x-request-id']);
    expect(relay.output.checkRecords().map((record) => record.subCode)).toEqual(['SUCCESS', 'SUCCESS']);
    expect(relay.output.paidCallsAvoided()).toEqual(['idempotent-replay']);
    // The replay made no upstream call, so it reports none.
    expect(relay.output.metricRecords('UpstreamAttempts')).toHaveLength(1);
  });

  it('treats other spellings of one image (line breaks, a data: prefix, the URL-safe alphabet, no padding) as the same request', async () => {
    const key = freshKey();
    await post(PHOTO, key);
    const wrapped = PHOTO.replace(/.{76}/g, '$&\r\n');
    const urlSafe = PHOTO.replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');

    const answers = [await post(wrapped, key), await post(`data:image/jpeg;base64,${PHOTO}`, key), await post(urlSafe, key)];

    expect(answers.map((answer) => [answer.status, answer.headers['idempotent-replayed']])).toEqual([
      [200, 'true'],
      [200, 'true'],
      [200, 'true'],
    ]);
    expect(checks()).toBe(1);
  });

  it('replays Deepvue’s final 4xx envelope too', async () => {
    const key = freshKey();
    const image = 'https://images.example.com/selfies/42.jpg?sandbox=invalid-url';
    const first = await post(image, key);
    expectUpstreamAnswer(first, 422, 'INVALID_URL');

    const again = await post(image, key);

    expect([again.status, again.body, again.headers['idempotent-replayed']]).toEqual([422, first.body, 'true']);
    expect(checks()).toBe(1);
  });

  it('keeps the answer for 24 hours in RESULTS_TABLE, without the image', async () => {
    const key = freshKey();
    const before = await records();
    await post(PHOTO, key);

    const added = (await records()).filter((item) => !before.some((old) => old.pk?.S === item.pk?.S));
    expect(added).toHaveLength(1);
    const [record] = added;
    expect(record?.status?.S).toBe('COMPLETED');
    expect(Number(record?.expires_at?.N) - Date.now() / 1000).toBeGreaterThan(24 * 3600 - 60);
    expect(Number(record?.expires_at?.N) - Date.now() / 1000).toBeLessThanOrEqual(24 * 3600 + 1);
    expect(record?.validation?.S).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(record?.data?.M?.envelope?.M?.sub_code?.S).toBe('SUCCESS');
    expect(JSON.stringify(record)).not.toContain(PHOTO.slice(0, 64));
    expect(JSON.stringify(record)).not.toContain(key);
  });

  it('calls Deepvue again once the record has expired', async () => {
    const key = freshKey();
    await post(PHOTO, key);
    const before = await records();
    const [record] = before.filter((item) => item.status?.S === 'COMPLETED');
    if (record?.pk === undefined) throw new Error('no record');
    // TTL removes expired items eventually; until then the relay must not serve them.
    for (const item of before) {
      await table.send(new UpdateItemCommand({
        TableName: RESULTS_TABLE,
        Key: { pk: item.pk as AttributeValue },
        UpdateExpression: 'SET expires_at = :past',
        ExpressionAttributeValues: { ':past': { N: String(Math.floor(Date.now() / 1000) - 1) } },
      }));
    }

    const again = await post(PHOTO, key);

    expectUpstreamAnswer(again, 200, 'SUCCESS');
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(checks()).toBe(2);
  });

  it('belongs to one caller: the same key from another API key is another request', async () => {
    const key = freshKey();
    await post(PHOTO, key, { apiKeyId: 'client-a' });
    const other = await post(OTHER_PHOTO, key, { apiKeyId: 'client-b' });

    expectUpstreamAnswer(other, 200, 'SUCCESS');
    expect(checks()).toBe(2);
  });
});

describe('a key used with another image', () => {
  it('is 422 IDEMPOTENCY_KEY_REUSED, without an upstream call', async () => {
    const key = freshKey();
    await post(PHOTO, key);

    const reused = await post(OTHER_PHOTO, key);

    expectRelayAnswer(reused, 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(reused.headers['idempotent-replayed']).toBeUndefined();
    expect(checks()).toBe(1);
    expect(relay.output.paidCallsAvoided()).toEqual(['rejected-input']);
  });
});

describe('a repeat while the first request still runs', () => {
  it('is 409 IDEMPOTENCY_IN_PROGRESS with Retry-After; the first one’s timeout releases the key', async () => {
    const key = freshKey();
    relay.deepvue.inject(CHECK, faults.hang());
    const first = post(PHOTO, key);
    while (checks() === 0) await sleep(10);

    const during = await post(PHOTO, key);

    expectRelayAnswer(during, 409, 'IDEMPOTENCY_IN_PROGRESS');
    expect(during.headers['retry-after']).toBe('2');
    expect(checks()).toBe(1);
    expect(relay.output.paidCallsAvoided()).toEqual(['duplicate-delivery']);

    // A timeout is not an answer worth keeping: the key is free again, and the next repeat asks Deepvue.
    expectRelayAnswer(await first, 504, 'UPSTREAM_TIMEOUT');
    const after = await post(PHOTO, key);
    expectUpstreamAnswer(after, 200, 'SUCCESS');
    expect(after.headers['idempotent-replayed']).toBeUndefined();
    expect(checks()).toBe(2);
  });
});

describe('answers that are not kept', () => {
  it.each([
    ['429 after the retries', faults.rateLimited(0), 429, 'RATE_LIMITED'],
    ['503 after the retries', faults.unavailable(), 503, 'UPSTREAM_UNAVAILABLE'],
  ])('%s: the next repeat asks Deepvue again', async (_, fault, status, subCode) => {
    const key = freshKey();
    relay.deepvue.inject(CHECK, fault, 3);
    expectRelayAnswer(await post(PHOTO, key), status, subCode);
    const attempts = checks();

    const again = await post(PHOTO, key);

    expectUpstreamAnswer(again, 200, 'SUCCESS');
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(checks()).toBe(attempts + 1);
  });

  it('relay refusals of the image (checked before the key) leave no record', async () => {
    const key = freshKey();
    const before = (await records()).length;
    expectRelayAnswer(await post('not base64!', key), 422, 'INVALID_BASE64_STRING');
    expect((await records()).length).toBe(before);
    expectUpstreamAnswer(await post(PHOTO, key), 200, 'SUCCESS');
  });
});

describe('a malformed Idempotency-Key', () => {
  it.each([
    ['empty', ''],
    ['256 characters', 'k'.repeat(256)],
    ['a tab', 'order\t42'],
    ['a control character', 'order\u000142'],
    ['DEL', 'order\u007f42'],
    ['a C1 control character', 'order\u008542'],
  ])('is 422 INVALID_REQUEST when %s, without an upstream call or a record', async (_, key) => {
    const before = (await records()).length;
    const answer = await post(PHOTO, key);
    expectRelayAnswer(answer, 422, 'INVALID_REQUEST');
    expect((answer.body as { message: string }).message).toContain('Idempotency-Key');
    expect(checks()).toBe(0);
    expect((await records()).length).toBe(before);
  });

  it('is 422 INVALID_REQUEST when sent twice', async () => {
    const answer = await post(PHOTO, 'a', { multiValueHeaders: { 'Idempotency-Key': ['a', 'b'] } });
    expectRelayAnswer(answer, 422, 'INVALID_REQUEST');
    expect(checks()).toBe(0);
  });

  it.each([
    ['two spellings, as separate names (npm start)', { 'Idempotency-Key': 'a', 'idempotency-key': 'b' }, undefined],
    ['two spellings, the single-value map keeping the last', { 'idempotency-key': 'b' }, { 'Idempotency-Key': ['a'], 'idempotency-key': ['b'] }],
    ['two spellings of one value', { 'IDEMPOTENCY-KEY': 'a', 'Idempotency-Key': 'a' }, undefined],
    ['one spelling grouped with another', { 'idempotency-key': 'b' }, { 'idempotency-key': ['a', 'b'], 'Idempotency-key': ['c'] }],
  ])('is 422 INVALID_REQUEST when sent twice in %s, like two headers spelt alike', async (_, headers, multiValueHeaders) => {
    const before = (await records()).length;
    const answer = await relay.invoke({
      body: JSON.stringify({ image: PHOTO }),
      headers: { 'Content-Type': 'application/json', ...headers },
      ...(multiValueHeaders === undefined ? {} : { multiValueHeaders }),
    });
    expectRelayAnswer(answer, 422, 'INVALID_REQUEST');
    expect((answer.body as { message: string }).message).toBe('send one Idempotency-Key header, not several');
    expect(checks()).toBe(0);
    expect((await records()).length).toBe(before);
  });

  it('reads one Idempotency-Key in any spelling', async () => {
    const key = freshKey();
    const spelt = (name: string) => relay.invoke({ body: JSON.stringify({ image: PHOTO }), headers: { 'Content-Type': 'application/json', [name]: key } });
    expectUpstreamAnswer(await spelt('IDEMPOTENCY-KEY'), 200, 'SUCCESS');
    expect((await spelt('idempotency-key')).headers['idempotent-replayed']).toBe('true');
    expect(checks()).toBe(1);
  });

  it.each([
    ['255 characters', 'k'.repeat(255)],
    ['printable non-ASCII characters and a quoted UUID', '"8e03978e-40d5-43e8-bc93-6894a57f9324" déjà-vu ✓'],
  ])('accepts %s', async (_, key) => {
    expectUpstreamAnswer(await post(PHOTO, key), 200, 'SUCCESS');
    expect((await post(PHOTO, key)).headers['idempotent-replayed']).toBe('true');
    expect(checks()).toBe(1);
  });
});

describe('without a working record store', () => {
  it('answers the check without the guarantee when RESULTS_TABLE cannot be reached, and logs it', async () => {
    await relay.restart({ RESULTS_TABLE, AWS_ENDPOINT_URL_DYNAMODB: await refusedUrl(), UPSTREAM_DEADLINE_MS: '2000' });
    try {
      const answer = await post(PHOTO, freshKey());
      expectUpstreamAnswer(answer, 200, 'SUCCESS');
      expect(relay.output.text()).toContain('idempotency record unavailable; checking without it');
    } finally {
      await relay.restart({ RESULTS_TABLE, AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint, UPSTREAM_DEADLINE_MS: '2000' });
    }
  });

  it('refuses a keyed request with 500 when RESULTS_TABLE is not configured, rather than pay without the promise', async () => {
    await relay.restart({ RESULTS_TABLE: undefined, UPSTREAM_DEADLINE_MS: '2000' });
    try {
      expectRelayAnswer(await post(PHOTO, freshKey()), 500, 'INTERNAL_SERVER_ERROR');
      expect(checks()).toBe(0);
      expectUpstreamAnswer(await post(PHOTO, undefined), 200, 'SUCCESS');
    } finally {
      await relay.restart({ RESULTS_TABLE, AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint, UPSTREAM_DEADLINE_MS: '2000' });
    }
  });
});

import { DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentedBody } from '../../../lib/deepvue/documented.ts';
import { relayEnvelope, type Envelope } from '../../../lib/platform/envelope.ts';
import { eventOrder, ResultsStore, type UploadResult } from '../../../lib/uploads/results.ts';
import { resultAnswer, resultKey } from '../../../lib/uploads/stored-results.ts';
import { localDynamoConfig, useDynalite } from '../../support/dynalite.ts';

const TABLE = 'results-lib-test';
const BUCKET = 'selfies';
const DAY_SECONDS = 24 * 60 * 60;

const dynalite = useDynalite(TABLE);
let client: DynamoDBClient;
let results: ResultsStore;

beforeAll(() => {
  client = new DynamoDBClient(localDynamoConfig(dynalite.endpoint));
  results = new ResultsStore({ client, tableName: TABLE, retentionDays: 30 });
});
afterAll(() => client.destroy());

const success = (isLive: boolean): Envelope => documentedBody('liveness-success', { data: { is_live: isLive, score: null } }) as Envelope;

const result = (key: string, version: string, sequencer: string, extra: Partial<UploadResult> = {}): UploadResult => ({
  bucket: BUCKET,
  key,
  version,
  status: 'COMPLETED',
  checkedAt: new Date(),
  result: success(true),
  order: eventOrder(sequencer, undefined),
  ...extra,
});

describe('eventOrder', () => {
  it('compares sequencers of different lengths by value, after left-padding', () => {
    // "FF" sorts after "100" as text, but 0x100 is the later event.
    expect(eventOrder('100', undefined) > eventOrder('FF', undefined)).toBe(true);
    expect(eventOrder('0055AED6DCD90281E5', undefined) < eventOrder('0055AED6DCD90281E6', undefined)).toBe(true);
    expect(eventOrder('00ab', undefined)).toBe(eventOrder('AB', undefined));
  });

  it('falls back to the event time when there is no sequencer', () => {
    expect(eventOrder(undefined, '2026-01-02T03:04:05.678Z')).toBe('time:2026-01-02T03:04:05.678Z');
    expect(eventOrder(undefined, '2026-01-02T03:04:06Z') > eventOrder(undefined, '2026-01-02T03:04:05.678Z')).toBe(true);
  });
});

describe('ResultsStore', () => {
  it('stores a result under s3://bucket/key, expiring the retention after the check', async () => {
    const checkedAt = new Date('2026-03-01T10:00:00.000Z');
    expect(await results.record(result('uploads/a b/é.jpg', 'v1', '01', { checkedAt }))).toBe('recorded');

    const { Item } = await client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: `s3://${BUCKET}/uploads/a b/é.jpg` } } }));
    expect(Item?.expires_at?.N).toBe(String(checkedAt.getTime() / 1000 + 30 * DAY_SECONDS));
    expect(Item?.version?.S).toBe('v1');
  });

  it('reads a fresh result as the results route answers it, naming the version and the bytes checked', async () => {
    const checkedAt = new Date();
    const envelope = success(true);
    const sha256 = 'a'.repeat(64);
    await results.record(result('uploads/fresh.jpg', 'v1', '01', { checkedAt, result: envelope, versionId: 'v1', eTag: 'e1', sha256 }));
    expect(await results.read(BUCKET, 'uploads/fresh.jpg')).toEqual({
      bucket: BUCKET,
      key: 'uploads/fresh.jpg',
      image: { bucket: BUCKET, key: 'uploads/fresh.jpg', version: 'v1', version_id: 'v1', etag: 'e1', sha256 },
      status: 'COMPLETED',
      checked_at: checkedAt.toISOString(),
      result: envelope,
    });
    // Unversioned, and refused before any byte was checked: the ETag names the version, no digest.
    await results.record(result('uploads/refused.jpg', 'e2', '01', { eTag: 'e2', status: 'REJECTED' }));
    expect((await results.read(BUCKET, 'uploads/refused.jpg'))?.image).toEqual({
      bucket: BUCKET, key: 'uploads/refused.jpg', version: 'e2', version_id: null, etag: 'e2', sha256: null,
    });
    expect(await results.read(BUCKET, 'uploads/never.jpg')).toBeUndefined();
    expect(await results.read('other-bucket', 'uploads/fresh.jpg')).toBeUndefined();
  });

  it('keeps the newest version: a later event replaces, an earlier one arriving late does not', async () => {
    const key = 'uploads/versions.jpg';
    expect(await results.record(result(key, 'v-old', 'FF', { result: success(false) }))).toBe('recorded');
    expect(await results.record(result(key, 'v-new', '100'))).toBe('recorded');
    expect(await results.record(result(key, 'v-old', 'FF', { result: success(false) }))).toBe('superseded');

    expect((await results.read(BUCKET, key))?.result.data).toEqual({ is_live: true, score: null });
    const { Item } = await client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: resultKey(BUCKET, key) } } }));
    expect(Item?.version?.S).toBe('v-new');
  });

  it('lets the same version be recorded again (a FAILED result replaced after a redrive)', async () => {
    const key = 'uploads/redriven.jpg';
    await results.record(result(key, 'v1', '0A', { status: 'FAILED', result: relayEnvelope('UPSTREAM_UNAVAILABLE', 'Deepvue is unavailable') }));
    expect(await results.record(result(key, 'v1', '0A'))).toBe('recorded');
    expect(await results.read(BUCKET, key)).toMatchObject({ status: 'COMPLETED', result: { sub_code: 'SUCCESS' } });
  });

  it.each<[string, Envelope]>([
    ['Deepvue’s documented nulls', documentedBody('liveness-success') as Envelope],
    ['a timestamp in nanoseconds, beyond 2^53', JSON.parse('{"code":200,"timestamp":1764165600123456789,"sub_code":"SUCCESS","data":{"is_live":true}}') as Envelope],
    ['a number beyond a double, which JSON reads as Infinity', JSON.parse('{"sub_code":"SUCCESS","data":{"is_live":false,"score":1e400}}') as Envelope],
    ['nesting deeper than DynamoDB’s 32 levels', { sub_code: 'SUCCESS', data: JSON.parse(`${'{"a":'.repeat(40)}1${'}'.repeat(40)}`) as unknown }],
    ['empty keys and strings, empty lists and maps', { sub_code: '', '': '', list: [], map: {} }],
  ])('stores an upstream envelope with %s, and reads back what the HTTP route answers for it', async (_, envelope) => {
    const key = `uploads/odd-${Math.random()}.jpg`;
    expect(await results.record(result(key, 'v1', '01', { result: envelope }))).toBe('recorded');
    expect((await results.read(BUCKET, key))?.result).toEqual(JSON.parse(JSON.stringify(envelope)));
  });

  it('answers an expired result as absent before DynamoDB’s TTL has removed it', async () => {
    const key = 'uploads/expired.jpg';
    await results.record(result(key, 'v1', '01'));
    await client.send(new UpdateItemCommand({
      TableName: TABLE,
      Key: { pk: { S: resultKey(BUCKET, key) } },
      UpdateExpression: 'SET expires_at = :past',
      ExpressionAttributeValues: { ':past': { N: String(Math.floor(Date.now() / 1000) - 1) } },
    }));
    expect(await results.read(BUCKET, key)).toBeUndefined();
  });
});

describe('resultAnswer', () => {
  const KEY = 'uploads/Zoë Ødegård/selfie 1+2%.jpg';
  beforeAll(async () => {
    await results.record(result(KEY, 'v1', '01'));
  });

  it.each([
    ['every reserved character encoded', encodeURIComponent(KEY)],
    ['slashes left as they are', KEY.split('/').map(encodeURIComponent).join('/')],
  ])('finds the key with %s', async (_, encoded) => {
    expect(await resultAnswer(results, BUCKET, encoded)).toMatchObject({ status: 200, body: { key: KEY, status: 'COMPLETED' } });
  });

  it.each([
    ['a key without a result', encodeURIComponent('uploads/none.jpg')],
    ['the key encoded twice', encodeURIComponent(encodeURIComponent(KEY))],
    ['broken URL encoding', 'uploads/%E0%A4%A'],
    ['no key', undefined],
  ])('answers 404 NOT_FOUND for %s', async (_, encoded) => {
    expect(await resultAnswer(results, BUCKET, encoded)).toEqual({
      status: 404,
      body: expect.objectContaining({ code: 404, sub_code: 'NOT_FOUND' }),
    });
  });
});

import { DeleteObjectCommand, GetObjectTaggingCommand, PutObjectTaggingCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { DynamoDBClient, GetItemCommand, PutItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { objectCreatedEvent, type StoredObject } from '../../lib/uploads/notifications.ts';
import { documented, faults } from '../support/deepvue-emulator.ts';
import { localDynamoConfig } from '../support/dynalite.ts';
import { dynamoRequest, dynamoThrottled, startFaultProxy } from '../support/fault-proxy.ts';
import { lambdaContext } from '../support/lambda.ts';
import { fixtureImage, sandboxBody } from '../support/relay.ts';
import { BUCKET, MAX_RECEIVE_COUNT, RESULTS_TABLE, sqsEvent, usePipeline } from '../support/uploads.ts';
import { jwksFunction, publishedKeys, verifyVerdict } from '../support/verdicts.ts';

/** Small enough that two-faces.jpg (487 KB) is too large, large enough for the other photographs. */
const MAX_IMAGE_BYTES = 300_000;
const LIVE = fixtureImage('live-selfie-exif-rotated.jpg');
const NOT_AN_IMAGE = Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n'.repeat(200));

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const live = () => documented('liveness-success');
const spoof = () => documented('liveness-success', { data: { is_live: false, score: null } });

// Images kept after their check (KEEP_UPLOADS_HOURS), so that their tags can be read and a redrive
// finds them; the default, each image deleted once checked, is test/functions/s3-upload-retention.test.ts.
const pipeline = usePipeline({ MAX_IMAGE_BYTES: String(MAX_IMAGE_BYTES), KEEP_UPLOADS_HOURS: '24' });

beforeEach(() => {
  pipeline.deepvue.clearCalls();
  pipeline.events.clear();
  pipeline.output.clear();
});

const s3Checks = () => pipeline.output.checkRecords().filter((record) => record.source === 's3');
const tagsOf = async (key: string) => {
  const { TagSet = [] } = await pipeline.s3.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: key }));
  return Object.fromEntries(TagSet.map((tag) => [tag.Key, tag.Value]));
};
const detailsOfEvents = () => pipeline.events.entries().map((entry) => JSON.parse(entry.Detail ?? '{}') as Record<string, unknown>);
const stored = (object: StoredObject) => pipeline.results.read(BUCKET, object.key);

describe('an uploaded selfie', () => {
  it('is checked once through Deepvue, recorded, tagged, announced and counted; keys with spaces and accents decode', async () => {
    const key = 'uploads/Ana María/selfie + 1 ünïcødé.jpg';
    const object = await pipeline.put(key, LIVE);
    // The uploader's own tag survives: the outcome tags are merged in, not swapped for the set.
    await pipeline.s3.send(new PutObjectTaggingCommand({ Bucket: BUCKET, Key: key, Tagging: { TagSet: [{ Key: 'case-id', Value: 'c-77' }] } }));

    const answer = await pipeline.deliver([{ object, messageId: 'm-live' }]);

    expect(answer).toEqual({ batchItemFailures: [] });
    const calls = pipeline.deepvue.calls('/v1/liveness-check');
    expect(calls).toHaveLength(1);
    expect(calls[0]?.body.image).toBe(LIVE.toString('base64'));
    const result = await stored(object);
    expect(result).toEqual({
      bucket: BUCKET,
      key,
      image: { bucket: BUCKET, key, version: object.eTag, version_id: null, etag: object.eTag, sha256: sha256(LIVE) },
      status: 'COMPLETED',
      checked_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      result: sandboxBody('liveness-success'),
      signature: expect.any(String),
    });
    // The stored verdict verifies with the deployment's published keys, and says what was checked.
    expect(await verifyVerdict(result?.signature ?? '', await publishedKeys(await jwksFunction(pipeline.env)))).toEqual({
      transaction_id: result?.result.transaction_id,
      sub_code: 'SUCCESS',
      is_live: true,
      score: null,
      image_sha256: createHash('sha256').update(LIVE).digest('hex'),
      source: 's3',
      subject: key,
      replay: null,
      iat: expect.any(Number),
    });
    expect(await tagsOf(key)).toEqual({ 'case-id': 'c-77', 'liveness-sub-code': 'SUCCESS', 'liveness-is-live': 'true' });
    expect(pipeline.events.entries()).toEqual([
      expect.objectContaining({ Source: 'liveness-relay', DetailType: 'Liveness Check Completed', EventBusName: 'liveness-test-bus' }),
    ]);
    expect(detailsOfEvents()).toEqual([{ bucket: BUCKET, key, version: object.eTag, status: 'COMPLETED', sub_code: 'SUCCESS', is_live: true }]);
    expect(s3Checks()).toEqual([{ namespace: 'LivenessRelayTest', subCode: 'SUCCESS', source: 's3' }]);
  });

  it('makes no second upstream call, record, event or metric when its notification is delivered again', async () => {
    const object = await pipeline.put('uploads/duplicate.jpg', fixtureImage('face.png'));
    await pipeline.deliver([{ object }]);
    const first = await stored(object);

    const again = await pipeline.deliver([{ object }, { object }]);
    await pipeline.deliver([{ object, receiveCount: 2 }]);

    expect(again.batchItemFailures).toEqual([]);
    expect(pipeline.upstreamChecks()).toBe(1);
    expect(await stored(object)).toEqual(first);
    expect(pipeline.events.entries()).toHaveLength(1);
    expect(s3Checks()).toHaveLength(1);
  });

  it('is REJECTED without an upstream call when too large or not an image', async () => {
    const large = await pipeline.put('uploads/large.jpg', fixtureImage('two-faces.jpg'));
    const document = await pipeline.put('uploads/scan.jpg', NOT_AN_IMAGE);

    const answer = await pipeline.deliver([{ object: large }, { object: document }]);

    expect(answer.batchItemFailures).toEqual([]);
    expect(pipeline.upstreamChecks()).toBe(0);
    expect(await stored(large)).toMatchObject({ status: 'REJECTED', result: { code: 413, sub_code: 'PAYLOAD_TOO_LARGE' } });
    expect(await stored(document)).toMatchObject({ status: 'REJECTED', result: { code: 422, sub_code: 'UNSUPPORTED_IMAGE_FORMAT' } });
    // The relay's own refusals are not verdicts: nothing is signed.
    expect(await stored(large)).not.toHaveProperty('signature');
    expect(await stored(document)).not.toHaveProperty('signature');
    expect(await tagsOf('uploads/scan.jpg')).toEqual({ 'liveness-sub-code': 'UNSUPPORTED_IMAGE_FORMAT' });
    expect(s3Checks().map((record) => record.subCode).sort()).toEqual(['PAYLOAD_TOO_LARGE', 'UNSUPPORTED_IMAGE_FORMAT']);
  });

  it('is REJECTED without an upstream call when it only begins like an image', async () => {
    const photo = fixtureImage('face-480p.jpg');
    const png = fixtureImage('face.png');
    const fakes = [
      ['uploads/signature.jpg', Buffer.from('/9j/', 'base64')],
      ['uploads/page.jpg', Buffer.concat([photo.subarray(0, 2590), Buffer.from('<!doctype html><html><body onload=alert(1)></body></html>')])],
      ['uploads/riff.webp', Buffer.from('RIFF\x24\x00\x00\x00WEBPVP8 ', 'latin1')],
      ['uploads/cut.jpg', photo.subarray(0, 1024)],
      // A header intact, then something else: not an image either.
      ['uploads/scan-then-page.jpg', Buffer.concat([photo.subarray(0, 2835), Buffer.from('<!doctype html><html><body onload=alert(1)></body></html>')])],
      ['uploads/truncated.jpg', photo.subarray(0, photo.length - 500)],
      ['uploads/idat-then-page.png', Buffer.concat([png.subarray(0, png.indexOf('IDAT') + 8 + png.readUInt32BE(png.indexOf('IDAT') - 4)), Buffer.from('<html></html>')])],
      ['uploads/riff-lies.webp', Buffer.concat([Buffer.from('UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==', 'base64'), Buffer.from('<html></html>')])],
    ] as const;
    const objects = await Promise.all(fakes.map(([key, bytes]) => pipeline.put(key, bytes)));

    expect((await pipeline.deliver(objects.map((object) => ({ object })))).batchItemFailures).toEqual([]);

    expect(pipeline.upstreamChecks()).toBe(0);
    for (const object of objects) {
      expect(await stored(object), object.key).toMatchObject({ status: 'REJECTED', result: { code: 422, sub_code: 'UNSUPPORTED_IMAGE_FORMAT', message: expect.stringMatching(/^image is not a usable (JPEG|PNG|WebP): /) } });
    }
    expect(await tagsOf('uploads/page.jpg')).toEqual({ 'liveness-sub-code': 'UNSUPPORTED_IMAGE_FORMAT' });
  });

  it('goes back to the queue on a 429, without a record or metric, and is checked on the next receive', async () => {
    const object = await pipeline.put('uploads/busy.jpg', LIVE);
    pipeline.deepvue.inject('/v1/liveness-check', faults.rateLimited(1));

    const answer = await pipeline.deliver([{ object, messageId: 'm-429' }]);

    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-429' }] });
    expect(pipeline.upstreamChecks()).toBe(1);
    expect(await stored(object)).toBeUndefined();
    expect(s3Checks()).toEqual([]);

    // The claim was released: the next receive checks the version.
    const retried = await pipeline.deliver([{ object, messageId: 'm-429', receiveCount: 2 }]);
    expect(retried.batchItemFailures).toEqual([]);
    expect(pipeline.upstreamChecks()).toBe(2);
    expect(await stored(object)).toMatchObject({ status: 'COMPLETED', result: { sub_code: 'SUCCESS' } });
  });

  it('is recorded FAILED on the last receive, goes on to the dead-letter queue, and a redrive replaces the record', async () => {
    const object = await pipeline.put('uploads/outage.jpg', LIVE);
    pipeline.deepvue.inject('/v1/liveness-check', faults.unavailable());

    const answer = await pipeline.deliver([{ object, messageId: 'm-last', receiveCount: MAX_RECEIVE_COUNT }]);

    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-last' }] });
    expect(await stored(object)).toMatchObject({ status: 'FAILED', result: { code: 503, sub_code: 'UPSTREAM_UNAVAILABLE' } });
    expect(s3Checks()).toEqual([{ namespace: 'LivenessRelayTest', subCode: 'UPSTREAM_UNAVAILABLE', source: 's3' }]);
    expect(detailsOfEvents()).toEqual([expect.objectContaining({ status: 'FAILED', sub_code: 'UPSTREAM_UNAVAILABLE', is_live: null })]);
    expect(await tagsOf('uploads/outage.jpg')).toEqual({ 'liveness-sub-code': 'UPSTREAM_UNAVAILABLE' });

    // Redriven from the dead-letter queue, the message starts again at its first receive.
    const redriven = await pipeline.deliver([{ object, messageId: 'm-redrive' }]);
    expect(redriven.batchItemFailures).toEqual([]);
    expect(pipeline.upstreamChecks()).toBe(2);
    expect(await stored(object)).toMatchObject({ status: 'COMPLETED', result: { sub_code: 'SUCCESS' } });
    expect(await tagsOf('uploads/outage.jpg')).toEqual({ 'liveness-sub-code': 'SUCCESS', 'liveness-is-live': 'true' });
  });

  it('is checked as the version its event names, never a newer upload under the key, and its result names the bytes checked', async () => {
    const key = 'uploads/replaced.jpg';
    const newer = fixtureImage('face-480p.jpg');
    const first = await pipeline.put(key, LIVE);
    const second = await pipeline.put(key, newer);

    // The first version's event comes after the second upload replaced it (no versioning here).
    await pipeline.deliver([{ object: first }]);
    expect(pipeline.upstreamChecks()).toBe(0);
    expect(await stored(first)).toMatchObject({
      status: 'FAILED',
      image: { version: first.eTag, etag: first.eTag, sha256: null },
      result: { code: 404, sub_code: 'NOT_FOUND' },
    });

    await pipeline.deliver([{ object: second }]);
    expect(pipeline.deepvue.calls('/v1/liveness-check').map((call) => call.body.image)).toEqual([newer.toString('base64')]);
    expect(await stored(second)).toMatchObject({
      status: 'COMPLETED',
      image: { bucket: BUCKET, key, version: second.eTag, version_id: null, etag: second.eTag, sha256: sha256(newer) },
    });
  });

  it('is recorded FAILED at once when the object is gone before it is read', async () => {
    const object = await pipeline.put('uploads/deleted.jpg', LIVE);
    await pipeline.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: object.key }));

    const answer = await pipeline.deliver([{ object }]);

    expect(answer.batchItemFailures).toEqual([]);
    expect(pipeline.upstreamChecks()).toBe(0);
    expect(await stored(object)).toMatchObject({ status: 'FAILED', result: { code: 404, sub_code: 'NOT_FOUND' } });
    expect(s3Checks().map((record) => record.subCode)).toEqual(['NOT_FOUND']);
  });
});

describe('a batch of ten with mixed outcomes', () => {
  it('records each message by its own outcome and reports exactly the transient ones', async () => {
    const [fresh, spoofed, document, large, faceless, busy, outage, deleted] = await Promise.all([
      pipeline.put('uploads/batch/fresh.jpg', fixtureImage('face-480p.jpg')),
      pipeline.put('uploads/batch/spoof.jpg', fixtureImage('spoof-printed-photo.jpg')),
      pipeline.put('uploads/batch/document.jpg', NOT_AN_IMAGE),
      pipeline.put('uploads/batch/large.jpg', fixtureImage('two-faces.jpg')),
      pipeline.put('uploads/batch/faceless.png', fixtureImage('face.png')),
      pipeline.put('uploads/batch/busy.jpg', LIVE),
      pipeline.put('uploads/batch/outage.jpg', LIVE),
      pipeline.put('uploads/batch/deleted.jpg', LIVE),
    ]);
    await pipeline.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: deleted.key }));
    // Upstream answers in the order the checks reach it (a batch is checked in order).
    for (const fault of [live(), spoof(), documented('liveness-face-not-detected'), faults.rateLimited(2), faults.unavailable()]) {
      pipeline.deepvue.inject('/v1/liveness-check', fault);
    }
    const event = sqsEvent([
      { object: fresh, messageId: 'b1' },
      { object: spoofed, messageId: 'b2' },
      { object: document, messageId: 'b3' },
      { object: large, messageId: 'b4' },
      { object: faceless, messageId: 'b5' },
      { object: busy, messageId: 'b6' },
      { object: outage, messageId: 'b7', receiveCount: MAX_RECEIVE_COUNT },
      { object: fresh, messageId: 'b8' },
      { object: deleted, messageId: 'b9' },
      { object: fresh, messageId: 'b10' },
    ]);
    // The tenth message is the test notification S3 sends when notifications are configured.
    const testEvent = event.Records[9];
    if (testEvent) testEvent.body = JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: BUCKET, Time: new Date().toISOString() });

    const answer = await pipeline.handler()(event, lambdaContext(30_000));

    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: 'b6' }, { itemIdentifier: 'b7' }] });
    expect(pipeline.upstreamChecks()).toBe(5);
    const statuses = await Promise.all([fresh, spoofed, document, large, faceless, busy, outage, deleted].map(async (object) => {
      const result = await stored(object);
      return result === undefined ? undefined : [result.status, result.result.sub_code];
    }));
    expect(statuses).toEqual([
      ['COMPLETED', 'SUCCESS'],
      ['COMPLETED', 'SUCCESS'],
      ['REJECTED', 'UNSUPPORTED_IMAGE_FORMAT'],
      ['REJECTED', 'PAYLOAD_TOO_LARGE'],
      ['COMPLETED', 'FACE_NOT_DETECTED'],
      undefined,
      ['FAILED', 'UPSTREAM_UNAVAILABLE'],
      ['FAILED', 'NOT_FOUND'],
    ]);
    expect(await tagsOf(spoofed.key)).toEqual({ 'liveness-sub-code': 'SUCCESS', 'liveness-is-live': 'false' });
    expect(await tagsOf(faceless.key)).toEqual({ 'liveness-sub-code': 'FACE_NOT_DETECTED' });
    expect(s3Checks().map((record) => record.subCode)).toEqual([
      'SUCCESS', 'SUCCESS', 'UNSUPPORTED_IMAGE_FORMAT', 'PAYLOAD_TOO_LARGE', 'FACE_NOT_DETECTED', 'UPSTREAM_UNAVAILABLE', 'NOT_FOUND',
    ]);
    expect(detailsOfEvents().map((detail) => [detail.key, detail.status, detail.is_live])).toEqual([
      [fresh.key, 'COMPLETED', true],
      [spoofed.key, 'COMPLETED', false],
      [document.key, 'REJECTED', null],
      [large.key, 'REJECTED', null],
      [faceless.key, 'COMPLETED', null],
      [outage.key, 'FAILED', null],
      [deleted.key, 'FAILED', null],
    ]);
  });
});

describe('idempotency claims', () => {
  /** The key Powertools gives a version's record of `kind` (`upload-claim`, `upload-outcome`). */
  const recordKey = (kind: string, object: StoredObject) =>
    `${kind}#${createHash('md5').update(JSON.stringify([object.bucket, object.key, object.eTag])).digest('base64')}`;

  /** A version's record of `kind`, without its stored data. */
  async function recordOf(kind: string, object: StoredObject): Promise<Record<string, AttributeValue>> {
    const { Item } = await claims.send(new GetItemCommand({ TableName: RESULTS_TABLE, Key: { pk: { S: recordKey(kind, object) } } }));
    expect(Item).toBeDefined();
    const { data: _settled, ...record } = Item ?? {};
    return record;
  }

  /** Puts a record back as an invocation that crashed mid-check leaves it: IN_PROGRESS, with its lease. */
  async function crashed(record: Record<string, AttributeValue>, leaseEndsAt: number): Promise<void> {
    await claims.send(new PutItemCommand({
      TableName: RESULTS_TABLE,
      Item: { ...record, status: { S: 'INPROGRESS' }, in_progress_expiration: { N: String(leaseEndsAt) } },
    }));
  }

  let claims: DynamoDBClient;
  beforeAll(() => {
    claims = new DynamoDBClient(localDynamoConfig(pipeline.dynamo.endpoint));
  });
  afterAll(() => claims.destroy());

  it('keeps a duplicate out while another invocation holds the claim; once that lease expires, writes the outcome Deepvue gave without a new call', async () => {
    const object = await pipeline.put('uploads/crashed.jpg', LIVE);
    // The invocation dies after Deepvue answered and the result was written, before its claim is
    // settled: the claim stays IN_PROGRESS, the outcome kept.
    const table = await startFaultProxy(pipeline.dynamo.endpoint);
    table.inject(dynamoThrottled(), Infinity, dynamoRequest('UpdateItem', 'upload-claim#'));
    await pipeline.restart({ AWS_ENDPOINT_URL_DYNAMODB: table.url });
    expect((await pipeline.deliver([{ object }])).batchItemFailures).toHaveLength(1);
    expect(pipeline.upstreamChecks()).toBe(1);
    const claim = await recordOf('upload-claim', object);
    await table.close();
    // A fresh container: the outcome must come from its record, not from memory.
    await pipeline.restart();

    await crashed(claim, Date.now() + 60_000);
    const whileHeld = await pipeline.deliver([{ object, messageId: 'm-held', receiveCount: 2 }]);
    expect(whileHeld).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-held' }] });
    expect(pipeline.upstreamChecks()).toBe(1);

    await crashed(claim, Date.now() - 1000);
    pipeline.output.clear();
    const afterLease = await pipeline.deliver([{ object, messageId: 'm-after', receiveCount: 3 }]);
    expect(afterLease.batchItemFailures).toEqual([]);
    expect(pipeline.upstreamChecks()).toBe(1);
    expect(await stored(object)).toMatchObject({ status: 'COMPLETED', result: { sub_code: 'SUCCESS' } });
    expect(pipeline.output.paidCallsAvoided()).toEqual(['idempotent-replay']);
  });

  it('checks again when the invocation crashed before Deepvue answered (its outcome record still in progress)', async () => {
    const object = await pipeline.put('uploads/crashed-early.jpg', LIVE);
    await pipeline.deliver([{ object }]);
    const claim = await recordOf('upload-claim', object);
    await pipeline.restart();

    // Both records as the crash leaves them: taken, in progress, their leases past.
    const outcome = { ...claim, pk: { S: recordKey('upload-outcome', object) } };
    await Promise.all([crashed(claim, Date.now() - 1000), crashed(outcome, Date.now() - 1000)]);
    const afterLease = await pipeline.deliver([{ object, messageId: 'm-after', receiveCount: 2 }]);

    expect(afterLease.batchItemFailures).toEqual([]);
    expect(pipeline.upstreamChecks()).toBe(2);
    expect(await stored(object)).toMatchObject({ status: 'COMPLETED' });
  });
});

describe('plain S3 events (no queue)', () => {
  it('are checked and recorded; a transient failure throws so that Lambda retries the event', async () => {
    const object = await pipeline.put('uploads/direct.jpg', LIVE);
    pipeline.deepvue.inject('/v1/liveness-check', faults.rateLimited(1));

    await expect(pipeline.handler()(objectCreatedEvent([object]), lambdaContext(30_000))).rejects.toThrow(/RATE_LIMITED/);
    expect(await stored(object)).toBeUndefined();

    await expect(pipeline.handler()(objectCreatedEvent([object]), lambdaContext(30_000))).resolves.toBeUndefined();
    expect(await stored(object)).toMatchObject({ status: 'COMPLETED' });
    expect(pipeline.upstreamChecks()).toBe(2);
  });
});

describe('best-effort side effects', () => {
  it('records the result when EventBridge refuses the event or the object has no room for more tags', async () => {
    const object = await pipeline.put('uploads/crowded.jpg', LIVE);
    const tenTags = Array.from({ length: 10 }, (_, index) => ({ Key: `t${index}`, Value: 'v' }));
    await pipeline.s3.send(new PutObjectTaggingCommand({ Bucket: BUCKET, Key: object.key, Tagging: { TagSet: tenTags } }));
    pipeline.events.failNext(1, 'refuse');

    const answer = await pipeline.deliver([{ object }]);

    expect(answer.batchItemFailures).toEqual([]);
    expect(await stored(object)).toMatchObject({ status: 'COMPLETED' });
    expect(Object.keys(await tagsOf(object.key))).toHaveLength(10);
    expect(pipeline.output.text()).toContain('could not publish the completion event');
    expect(pipeline.output.text()).toContain('object not tagged');
    expect(s3Checks()).toHaveLength(1);
  });

  it('records the result when EventBridge keeps failing', async () => {
    const object = await pipeline.put('uploads/no-bus.jpg', LIVE);
    // More failures than the SDK's attempts.
    pipeline.events.failNext(5, 'error');

    const answer = await pipeline.deliver([{ object }]);

    expect(answer.batchItemFailures).toEqual([]);
    expect(await stored(object)).toMatchObject({ status: 'COMPLETED' });
    expect(await tagsOf(object.key)).toMatchObject({ 'liveness-sub-code': 'SUCCESS' });
    expect(pipeline.events.entries()).toEqual([]);
    expect(pipeline.output.text()).toContain('could not publish the completion event');
    pipeline.events.failNext(0, 'error');
  });
});

describe('a burst of 100 messages with 20 duplicates', () => {
  /** 80 distinct uploads, then 20 of them announced a second time, shuffled in among the rest. */
  async function burst(name: string): Promise<ReturnType<typeof sqsEvent>['Records']> {
    const photo = fixtureImage('face-480p.jpg');
    const objects = await Promise.all(Array.from({ length: 80 }, (_, index) => pipeline.put(`uploads/${name}/${index}.jpg`, photo)));
    const deliveries = [...objects, ...objects.filter((_, index) => index % 4 === 0)].map((object) => ({ object }));
    // A fixed permutation: duplicates land both in the same batch as their original and in others.
    const shuffled = deliveries.map((delivery, index) => ({ delivery, rank: (index * 37) % deliveries.length }))
      .sort((a, b) => a.rank - b.rank)
      .map(({ delivery }) => delivery);
    return sqsEvent(shuffled).Records;
  }

  it('makes 80 upstream calls in one batch of 100', async () => {
    const records = await burst('sequential');
    expect(records).toHaveLength(100);

    const answer = await pipeline.handler()({ Records: records }, lambdaContext(900_000));

    expect(answer?.batchItemFailures).toEqual([]);
    expect(pipeline.upstreamChecks()).toBe(80);
    expect(s3Checks()).toHaveLength(80);
  });

  it('makes 80 upstream calls as ten concurrent batches of ten, duplicates in flight retried once', async () => {
    const records = await burst('concurrent');
    const batches = Array.from({ length: 10 }, (_, index) => records.slice(index * 10, index * 10 + 10));
    let pending = records;
    for (let round = 1; pending.length > 0 && round <= MAX_RECEIVE_COUNT; round += 1) {
      const answers = await Promise.all(
        (round === 1 ? batches : [pending]).map((batch) => pipeline.handler()({ Records: batch }, lambdaContext(30_000))),
      );
      const failed = new Set(answers.flatMap((answer) => answer?.batchItemFailures.map((failure) => failure.itemIdentifier) ?? []));
      pending = records.filter((record) => failed.has(record.messageId)).map((record) => ({
        ...record,
        attributes: { ...record.attributes, ApproximateReceiveCount: String(round + 1) },
      }));
    }

    expect(pending).toEqual([]);
    expect(pipeline.upstreamChecks()).toBe(80);
    expect(s3Checks()).toHaveLength(80);
  });
});

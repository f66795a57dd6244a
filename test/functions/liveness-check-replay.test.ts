import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECK, faults } from '../support/deepvue-emulator.ts';
import { createTable, localDynamoConfig, useDynalite } from '../support/dynalite.ts';
import { blackPng, jpegFrame, jpegScan, pngChunk, pngHeader, PNG_SIGNATURE } from '../support/images.ts';
import type { HttpAnswer } from '../support/lambda.ts';
import { cropped, decodeJpeg, decodePng, encodeJpeg } from '../support/pictures.ts';
import { jwksFunction, publishedKeys, verifyVerdict } from '../support/verdicts.ts';
import { expectAnswerHeaders, expectUpstreamAnswer, fixtureImage, useRelay, type FixtureImage } from '../support/relay.ts';

/**
 * Replayed images on POST /v1/liveness-check, with real photographs: the same bytes or a copy of
 * them seen again is flagged (REPLAY_POLICY=flag, the default) or refused without an upstream
 * call (refuse); a request's own repeats and retries are not replays; different photographs never
 * match. Each test uses photographs no other test of its relay sends, or a table of its own.
 */
const RESULTS_TABLE = 'liveness-results-replay-test';
let replayTables = 0;
const dynalite = useDynalite(RESULTS_TABLE);
let table: DynamoDBClient;

beforeAll(() => {
  table = new DynamoDBClient(localDynamoConfig(dynalite.endpoint));
});
afterAll(() => table.destroy());

/** A replay table of its own, created on the file's dynalite. */
async function freshReplayTable(): Promise<string> {
  replayTables += 1;
  const name = `liveness-replay-test-${replayTables}`;
  await createTable(dynalite.endpoint, name, true);
  return name;
}

const base64 = (bytes: Buffer) => bytes.toString('base64');
/** A copy as a replayer makes one: 5 % cut off every side, re-encoded as a JPEG of quality 70. */
const croppedCopy = (name: FixtureImage) => encodeJpeg(cropped(decodeJpeg(fixtureImage(name)), 0.05, 0.05, 0.05, 0.05), 70);

const transactionId = (answer: HttpAnswer) => (answer.body as { transaction_id: string }).transaction_id;

describe('REPLAY_POLICY=flag (the default)', () => {
  const relay = useRelay(() => ({ env: { RESULTS_TABLE, AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint } }));
  beforeAll(async () => relay.restart({ REPLAY_TABLE: await freshReplayTable() }));

  const post = (image: string, headers: Record<string, string> = {}) =>
    relay.invoke({ body: JSON.stringify({ image }), headers: { 'Content-Type': 'application/json', ...headers } });

  it('answers the same photo sent again as usual, marked exact and naming the first check', async () => {
    const photo = base64(fixtureImage('face-480p.jpg'));
    const first = await post(photo);
    expectUpstreamAnswer(first, 200, 'SUCCESS');
    expect(first.headers['x-liveness-replay']).toBeUndefined();
    expect(first.headers['x-liveness-replay-of']).toBeUndefined();

    const again = await post(photo);

    expectUpstreamAnswer(again, 200, 'SUCCESS');
    expect(again.headers['x-liveness-replay']).toBe('exact');
    expect(again.headers['x-liveness-replay-of']).toBe(transactionId(first));
    expect(relay.upstreamCalls(CHECK)).toBe(2);
    expect(relay.output.metricRecords('ReplayDetected').map((record) => [record.Kind, record.ReplayDetected])).toEqual([['exact', 1]]);
  });

  it('marks a cropped, re-compressed copy, and the same photo as WebP, similar', async () => {
    const first = await post(base64(fixtureImage('grace-hopper.jpg')));
    expect(first.headers['x-liveness-replay']).toBeUndefined();
    const copy = await post(base64(croppedCopy('grace-hopper.jpg')));
    expect([copy.headers['x-liveness-replay'], copy.headers['x-liveness-replay-of']]).toEqual(['similar', transactionId(first)]);

    const jpeg = await post(base64(fixtureImage('face-480p.jpg')));
    const webp = await post(base64(fixtureImage('face-480p.webp')));
    expect(jpeg.headers['x-liveness-replay']).toBe('exact');
    expect(webp.headers['x-liveness-replay']).toBe('similar');
    expect(relay.output.metricRecords('ReplayDetected').map((record) => record.Kind)).toEqual(['similar', 'exact', 'similar']);
  });

  it('signs what it found: the verdict’s claim `replay` is null for the first check, exact and similar for the copies', async () => {
    const keys = await publishedKeys(await jwksFunction(relay.env()));
    const claim = async (answer: HttpAnswer) => (await verifyVerdict(answer.headers['x-liveness-signature'] ?? '', keys)).replay;
    const first = await post(base64(fixtureImage('chelsea.png')));
    const again = await post(base64(fixtureImage('chelsea.png')));
    const copy = await post(base64(encodeJpeg(cropped(decodePng(fixtureImage('chelsea.png')), 0.05, 0.05, 0, 0), 80)));
    expect([await claim(first), await claim(again), await claim(copy)]).toEqual([null, 'exact', 'similar']);
    expect([again.headers['x-liveness-replay'], copy.headers['x-liveness-replay']]).toEqual(['exact', 'similar']);
  });

  it('never marks a different photograph, of the same person or of others', async () => {
    const answers = [];
    for (const name of ['two-faces.jpg', 'partial-face.jpg', 'astronaut.png', 'camera.png', 'face.png'] as const) {
      answers.push(await post(base64(fixtureImage(name))));
    }
    expect(answers.map((answer) => [answer.status, answer.headers['x-liveness-replay']])).toEqual(answers.map(() => [200, undefined]));
    expect(relay.output.metricRecords('ReplayDetected')).toEqual([]);
  });

  it('does not mark a repeat under the same Idempotency-Key, nor count it', async () => {
    const photo = base64(fixtureImage('live-selfie-exif-rotated.jpg'));
    const first = await post(photo, { 'Idempotency-Key': 'order-1-replay' });
    const repeat = await post(photo, { 'Idempotency-Key': 'order-1-replay' });

    expect(repeat.headers['idempotent-replayed']).toBe('true');
    expect(repeat.body).toEqual(first.body);
    for (const answer of [first, repeat]) expect(answer.headers['x-liveness-replay']).toBeUndefined();
    expect(relay.upstreamCalls(CHECK)).toBe(1);
    expect(relay.output.metricRecords('ReplayDetected')).toEqual([]);
  });

  it('does not mark a retry after an upstream failure, with or without its Idempotency-Key', async () => {
    relay.deepvue.inject(CHECK, faults.unavailable(), 3);
    const failed = await post(base64(fixtureImage('spoof-printed-photo.jpg')), { 'Idempotency-Key': 'order-2-replay' });
    expect(failed.status).toBe(503);
    const retried = await post(base64(fixtureImage('spoof-printed-photo.jpg')), { 'Idempotency-Key': 'order-2-replay' });
    expectUpstreamAnswer(retried, 200, 'SUCCESS');
    expect(retried.headers['x-liveness-replay']).toBeUndefined();

    relay.deepvue.inject(CHECK, faults.unavailable(), 3);
    const photo = base64(fixtureImage('rocket.jpg'));
    expect((await post(photo)).status).toBe(503);
    // The failed check left nothing behind: its retry is a first check.
    const again = await post(photo);
    expect([again.status, again.headers['x-liveness-replay']]).toEqual([200, undefined]);
    expect(relay.output.metricRecords('ReplayDetected')).toEqual([]);
  });

  it('does not compare image URLs, which the relay never fetches', async () => {
    const url = 'https://images.example.com/selfie-replayed.jpg';
    const answers = [await post(url), await post(url)];
    expect(answers.map((answer) => [answer.status, answer.headers['x-liveness-replay']])).toEqual([[200, undefined], [200, undefined]]);
  });

  it('refuses a decompression bomb of 30,000 × 30,000 pixels unread, and compares an image over the decode limits exactly', async () => {
    const rssBefore = process.memoryUsage.rss();
    const bombs = [
      Buffer.concat([PNG_SIGNATURE, pngHeader(30_000, 30_000), pngChunk('IDAT', deflateSync(Buffer.alloc(30_001 * 64))), pngChunk('IEND', Buffer.alloc(0))]),
      Buffer.concat([fixtureImage('face-480p.jpg').subarray(0, 2590), jpegFrame(30_000, 30_000), jpegScan(), Buffer.alloc(4096)]),
    ];
    for (const bomb of bombs) {
      expect(bomb.length).toBeLessThan(100_000);
      const answer = await post(base64(bomb));
      expect([answer.status, (answer.body as { sub_code: string }).sub_code, answer.headers['x-liveness-replay']]).toEqual([422, 'UNSUPPORTED_IMAGE_FORMAT', undefined]);
      expect((answer.body as { message: string }).message).toMatch(/30000×30000 pixels/);
    }
    expect(relay.upstreamCalls(CHECK)).toBe(0);

    // 48 megapixels in 50 KB: accepted (a phone could take it), but over what a decode may hold.
    const large = await blackPng(8000, 6000, 8, 0);
    const first = await post(base64(large));
    const again = await post(base64(large));
    expect([first.status, first.headers['x-liveness-replay']]).toEqual([200, undefined]);
    expect([again.status, again.headers['x-liveness-replay'], again.headers['x-liveness-replay-of']]).toEqual([200, 'exact', transactionId(first)]);
    expect(relay.output.text()).toContain('no perceptual hash: the image is compared exactly only');
    // A decode of either bomb would hold 3.6 GB at the least.
    expect(process.memoryUsage.rss() - rssBefore).toBeLessThan(256 * 1024 * 1024);
  });

  it('marks at least one of two checks of one new photo sent at the same moment', async () => {
    // A photo no other test sends: the no-face diagram's bytes.
    const fresh = base64(fixtureImage('no-face-diagram.jpg'));
    const answers = await Promise.all([post(fresh), post(fresh)]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
    expect(answers.filter((answer) => answer.headers['x-liveness-replay'] === 'exact').length).toBeGreaterThanOrEqual(1);
  });
});

describe('REPLAY_POLICY=refuse', () => {
  const relay = useRelay(() => ({ env: { RESULTS_TABLE, AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint, REPLAY_POLICY: 'refuse' } }));
  let replayTable = '';
  beforeAll(async () => {
    replayTable = await freshReplayTable();
    await relay.restart({ REPLAY_TABLE: replayTable });
  });

  const post = (image: string, headers: Record<string, string> = {}) =>
    relay.invoke({ body: JSON.stringify({ image }), headers: { 'Content-Type': 'application/json', ...headers } });

  /** 409 REPLAYED_IMAGE, the contract's envelope, naming the first check; no Retry-After (retrying cannot help). */
  function expectRefused(answer: HttpAnswer, kind: 'exact' | 'similar', first: HttpAnswer): void {
    expect(answer.status).toBe(409);
    expect(answer.body).toEqual({
      code: 409,
      timestamp: expect.any(Number),
      transaction_id: expect.any(String),
      sub_code: 'REPLAYED_IMAGE',
      message: expect.stringMatching(/^this image.* was checked before, at \d{4}-\d\d-\d\dT.*; send a new photo$/),
    });
    expect(answer.headers['x-liveness-replay']).toBe(kind);
    expect(answer.headers['x-liveness-replay-of']).toBe(transactionId(first));
    expect(answer.headers['content-type']).toBe('application/json');
    expect(answer.headers['x-request-id']).toBe(answer.requestId);
    expect(answer.headers['retry-after']).toBeUndefined();
  }

  it('refuses the same photo, and a copy of it, without an upstream call; the first check stays the first', async () => {
    const first = await post(base64(fixtureImage('face-480p.jpg')));
    expectUpstreamAnswer(first, 200, 'SUCCESS');
    relay.deepvue.clearCalls();

    const again = await post(base64(fixtureImage('face-480p.jpg')));
    const copy = await post(base64(croppedCopy('face-480p.jpg')));
    const afterRefusals = await post(base64(fixtureImage('face-480p.jpg')));

    expectRefused(again, 'exact', first);
    expectRefused(copy, 'similar', first);
    expectRefused(afterRefusals, 'exact', first);
    expect(relay.upstreamCalls(CHECK)).toBe(0);
    expect(relay.output.metricRecords('ReplayDetected').map((record) => record.Kind)).toEqual(['exact', 'similar', 'exact']);
    expect(relay.output.paidCallsAvoided()).toEqual(['rejected-input', 'rejected-input', 'rejected-input']);
  });

  it('keeps the digests of checked images only: a refused attempt is taken back', async () => {
    const first = await post(base64(fixtureImage('rocket.jpg')));
    expectAnswerHeaders(first);
    const before = await digestItems(replayTable);
    expect((await post(base64(fixtureImage('rocket.jpg')))).status).toBe(409);
    expect(await digestItems(replayTable)).toBe(before);
  });

  it('answers the repeat of a refused request under its Idempotency-Key with the same refusal, without a second lookup counted', async () => {
    const first = await post(base64(fixtureImage('two-faces.jpg')));
    const refused = await post(base64(fixtureImage('two-faces.jpg')), { 'Idempotency-Key': 'order-3-replay' });
    const repeat = await post(base64(fixtureImage('two-faces.jpg')), { 'Idempotency-Key': 'order-3-replay' });
    expectRefused(refused, 'exact', first);
    expectRefused(repeat, 'exact', first);
    expect(repeat.headers['idempotent-replayed']).toBe('true');
    expect(relay.output.metricRecords('ReplayDetected')).toHaveLength(1);
  });
});

describe('a replay table that fails', () => {
  const relay = useRelay(() => ({ env: { AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint, REPLAY_POLICY: 'refuse', REPLAY_TABLE: 'no-such-replay-table' } }));

  it('never fails the check: it is answered unflagged, and the failure is logged', async () => {
    const photo = base64(fixtureImage('face.png'));
    const answers = [await relay.post(photo), await relay.post(photo)];
    expect(answers.map((answer) => [answer.status, answer.headers['x-liveness-replay']])).toEqual([[200, undefined], [200, undefined]]);
    expect(relay.output.text()).toContain('replay digests could not be looked up; the check goes on unflagged');
  });
});

async function digestItems(tableName: string): Promise<number> {
  const { Count = 0 } = await table.send(new ScanCommand({ TableName: tableName, Select: 'COUNT' }));
  return Count;
}

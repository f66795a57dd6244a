/**
 * PRESCREEN=on: both paths to Deepvue count and measure the faces first, and answer a picture
 * that cannot pass themselves, with no upstream call, provider `prescreen` and a
 * PaidCallsAvoided{prescreen} record; good pictures go to Deepvue as before.
 */
import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { StoredObject } from '../../lib/uploads/notifications.ts';
import { useDynalite } from '../support/dynalite.ts';
import { blackPng } from '../support/images.ts';
import { decodeJpeg, encodeJpeg, placed } from '../support/pictures.ts';
import { expectRelayAnswer, expectUpstreamAnswer, fixtureImage, useRelay, type FixtureImage } from '../support/relay.ts';
import { BUCKET, usePipeline } from '../support/uploads.ts';
import { jwksFunction, publishedKeys, verifyVerdict } from '../support/verdicts.ts';

/** The frontal face pasted unscaled into a 1400-pixel square: found, at 8 % of the short side. */
const TINY_FACE = encodeJpeg(placed(decodeJpeg(fixtureImage('face-480p.jpg')), { width: 1400, height: 1400 }));

const REFUSED: Array<[string, number, string, Buffer]> = [
  ['no-face-diagram.jpg (no face)', 200, 'FACE_NOT_DETECTED', fixtureImage('no-face-diagram.jpg')],
  ['partial-face.jpg (the face cut off by the frame)', 200, 'FACE_NOT_DETECTED', fixtureImage('partial-face.jpg')],
  ['two-faces.jpg', 422, 'MULTIPLE_FACES', fixtureImage('two-faces.jpg')],
  ['a face at 8 % of the short side', 422, 'FACE_TOO_SMALL', TINY_FACE],
];
const PASSED: FixtureImage[] = ['face-480p.jpg', 'face.png', 'live-selfie-exif-rotated.jpg', 'spoof-printed-photo.jpg'];

describe('POST /v1/liveness-check with PRESCREEN=on', () => {
  const relay = useRelay({ env: { PRESCREEN: 'on', MAX_IMAGE_BYTES: String(1024 * 1024) } });

  it.each(REFUSED)('%s → %i %s from the pre-screen, without calling Deepvue, signed', async (_, status, subCode, photo) => {
    const answer = await relay.post(photo.toString('base64'));
    expectRelayAnswer(answer, status, subCode, 'prescreen');
    expect(relay.upstreamCalls()).toBe(0);
    expect(relay.output.paidCallsAvoided()).toEqual(['prescreen']);
    expect(relay.output.checkRecords()).toEqual([{ namespace: 'LivenessRelayTest', subCode, source: 'api' }]);
    // A verdict as Deepvue's are: jose verifies it against the published keys, and it names the image.
    const keys = await publishedKeys(await jwksFunction(relay.env()));
    expect(await verifyVerdict(answer.headers['x-liveness-signature'] ?? '', keys)).toEqual({
      transaction_id: (answer.body as { transaction_id: string }).transaction_id,
      sub_code: subCode,
      is_live: null,
      score: null,
      image_sha256: createHash('sha256').update(photo).digest('hex'),
      source: 'api',
      subject: null,
      replay: null,
      iat: expect.any(Number),
    });
  });

  it.each(PASSED)('%s → Deepvue judges it, as without the pre-screen', async (name) => {
    expectUpstreamAnswer(await relay.post(fixtureImage(name).toString('base64')), 200, 'SUCCESS');
    expect(relay.upstreamCalls('/v1/liveness-check')).toBe(1);
    expect(relay.output.paidCallsAvoided()).toEqual([]);
  });

  it('leaves image URLs to Deepvue (the relay never fetches them)', async () => {
    expectUpstreamAnswer(await relay.post('https://images.example.com/selfies/two-faces.jpg'), 200, 'SUCCESS');
    expect(relay.upstreamCalls('/v1/liveness-check')).toBe(1);
  });

  it('sends an image it cannot decode to Deepvue rather than refuse it', async () => {
    // Intact to its EOI, its entropy-coded data cut short: only decoding can tell.
    const truncated = Buffer.concat([fixtureImage('two-faces.jpg').subarray(0, 3000), Buffer.from([0xff, 0xd9])]);
    expectUpstreamAnswer(await relay.post(truncated.toString('base64')), 200, 'SUCCESS');
    expect(relay.upstreamCalls('/v1/liveness-check')).toBe(1);
    expect(relay.output.text()).toContain('pre-screen skipped');
  });

  it('sends a decompression bomb under the pixel limit to Deepvue without decoding it', async () => {
    // 200 KB that inflate to 200 MB of 16-bit samples: decoding it took 5 s and 600 MiB.
    const bomb = await blackPng(5000, 5000, 16, 6);
    const started = performance.now();
    expectUpstreamAnswer(await relay.post(bomb.toString('base64')), 200, 'SUCCESS');
    expect(performance.now() - started).toBeLessThan(1500);
    expect(relay.upstreamCalls('/v1/liveness-check')).toBe(1);
    expect(relay.output.text()).toMatch(/pre-screen skipped.*5000×5000 pixels are over/);
  });

  it('is off unless PRESCREEN=on: two faces go to Deepvue', async () => {
    await relay.restart({ PRESCREEN: undefined });
    try {
      expectUpstreamAnswer(await relay.post(fixtureImage('two-faces.jpg').toString('base64')), 200, 'SUCCESS');
      expect(relay.upstreamCalls('/v1/liveness-check')).toBe(1);
    } finally {
      await relay.restart({ PRESCREEN: 'on' });
    }
  });
});

describe('uploaded images with PRESCREEN=on', () => {
  const pipeline = usePipeline({ PRESCREEN: 'on' });
  beforeEach(() => {
    pipeline.deepvue.clearCalls();
    pipeline.output.clear();
  });

  const check = async (key: string, photo: Buffer) => {
    const object: StoredObject = await pipeline.put(key, photo);
    expect(await pipeline.deliver([{ object }])).toEqual({ batchItemFailures: [] });
    return pipeline.results.read(BUCKET, key);
  };

  it('records no face as Deepvue would (COMPLETED, FACE_NOT_DETECTED), and several or tiny faces REJECTED, none paid', async () => {
    expect(await check('uploads/diagram.jpg', fixtureImage('no-face-diagram.jpg'))).toMatchObject({ status: 'COMPLETED', result: { code: 200, sub_code: 'FACE_NOT_DETECTED' } });
    expect(await check('uploads/pair.jpg', fixtureImage('two-faces.jpg'))).toMatchObject({ status: 'REJECTED', result: { code: 422, sub_code: 'MULTIPLE_FACES' } });
    expect(await check('uploads/far.jpg', TINY_FACE)).toMatchObject({ status: 'REJECTED', result: { code: 422, sub_code: 'FACE_TOO_SMALL' } });
    expect(pipeline.upstreamChecks()).toBe(0);
    expect(pipeline.output.paidCallsAvoided()).toEqual(['prescreen', 'prescreen', 'prescreen']);
  });

  it('sends a decompression bomb to Deepvue without decoding it', async () => {
    expect(await check('uploads/bomb.png', await blackPng(5000, 5000, 16, 6))).toMatchObject({ status: 'COMPLETED', result: { sub_code: 'SUCCESS' } });
    expect(pipeline.upstreamChecks()).toBe(1);
    expect(pipeline.output.text()).toMatch(/pre-screen skipped.*5000×5000 pixels are over/);
  });

  it('sends a good selfie to Deepvue', async () => {
    expect(await check('uploads/selfie.jpg', fixtureImage('live-selfie-exif-rotated.jpg'))).toMatchObject({ status: 'COMPLETED', result: { sub_code: 'SUCCESS' } });
    expect(pipeline.upstreamChecks()).toBe(1);
    expect(pipeline.output.paidCallsAvoided()).toEqual([]);
  });
});

describe('POST /v1/liveness-check with PRESCREEN=on and an Idempotency-Key', () => {
  const RESULTS_TABLE = 'liveness-results-prescreen-key-test';
  const dynalite = useDynalite(RESULTS_TABLE);
  // Its hooks come after the table's: started once the table is, closed before it.
  const relay = useRelay(() => ({ env: { PRESCREEN: 'on', MAX_IMAGE_BYTES: String(1024 * 1024), RESULTS_TABLE, AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint } }));
  const post = (photo: Buffer, key: string) =>
    relay.invoke({ body: JSON.stringify({ image: photo.toString('base64') }), headers: { 'Content-Type': 'application/json', 'Idempotency-Key': key } });

  it('keeps a refusal as the key’s answer: the repeat replays it, another image under the key is IDEMPOTENCY_KEY_REUSED', async () => {
    const first = await post(fixtureImage('two-faces.jpg'), 'order-prescreen-1');
    expectRelayAnswer(first, 422, 'MULTIPLE_FACES', 'prescreen');

    const again = await post(fixtureImage('two-faces.jpg'), 'order-prescreen-1');
    expect(again.status).toBe(422);
    expect(again.body).toEqual(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');

    expectRelayAnswer(await post(fixtureImage('face-480p.jpg'), 'order-prescreen-1'), 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(relay.upstreamCalls()).toBe(0);
    expect(relay.output.paidCallsAvoided()).toEqual(['prescreen', 'idempotent-replay', 'rejected-input']);
  });
});

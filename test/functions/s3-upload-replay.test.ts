import { createHash } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { perceptualHash } from '../../lib/replay/matching.ts';
import { DigestStore } from '../../lib/replay/store.ts';
import { checkIdentity } from '../../lib/uploads/checker.ts';
import type { StoredObject } from '../../lib/uploads/notifications.ts';
import { faults } from '../support/deepvue-emulator.ts';
import { localDynamoConfig } from '../support/dynalite.ts';
import { cropped, decodeJpeg, encodeJpeg } from '../support/pictures.ts';
import { fixtureImage } from '../support/relay.ts';
import { startSessions, type SessionsUnderTest } from '../support/sessions.ts';
import { BUCKET, PREFIX, REPLAY_TABLE, usePipeline, type UploadPipeline } from '../support/uploads.ts';

/**
 * Replayed images on the upload path and in liveness sessions, with real photographs: the stored
 * result and the session result carry `replay` (flag), or are REJECTED with REPLAYED_IMAGE and no
 * upstream call (refuse); a redelivery of the same object version and a session's own attempts
 * are never replays of themselves.
 */
const CHECK = '/v1/liveness-check';
const transactionIdOf = (result: unknown) => (result as { transaction_id: string }).transaction_id;

/** Uploads `body` under `key`, delivers its notification, and reads back the stored result. */
async function uploadChecked(pipeline: UploadPipeline, key: string, body: Uint8Array) {
  const object = await pipeline.put(`${PREFIX}${key}`, body);
  const answer = await pipeline.deliver([{ object }]);
  expect(answer.batchItemFailures).toEqual([]);
  return { object, stored: await pipeline.results.read(BUCKET, object.key) };
}

describe('uploads, REPLAY_POLICY=flag', () => {
  const pipeline = usePipeline({ REPLAY_TABLE });

  it('stores the result of a photo uploaded again with `replay`, naming the first upload’s check', async () => {
    const first = await uploadChecked(pipeline, 'flag/first.jpg', fixtureImage('face-480p.jpg'));
    expect(first.stored).toMatchObject({ status: 'COMPLETED' });
    expect(first.stored).not.toHaveProperty('replay');

    const again = await uploadChecked(pipeline, 'flag/again.jpg', fixtureImage('face-480p.jpg'));
    const copy = await uploadChecked(pipeline, 'flag/copy.jpg', encodeJpeg(cropped(decodeJpeg(fixtureImage('face-480p.jpg')), 0.05, 0.05, 0.05, 0.05), 75));

    expect(again.stored).toMatchObject({ status: 'COMPLETED', replay: { kind: 'exact', first_transaction_id: transactionIdOf(first.stored?.result), first_seen_at: expect.any(String) } });
    expect(copy.stored).toMatchObject({ status: 'COMPLETED', replay: { kind: 'similar', first_transaction_id: transactionIdOf(first.stored?.result) } });
    expect(pipeline.upstreamChecks()).toBe(3);
    expect(pipeline.output.metricRecords('ReplayDetected').map((record) => record.Kind)).toEqual(['exact', 'similar']);
  });

  it('does not flag a redelivery of the same object version', async () => {
    pipeline.deepvue.clearCalls();
    const { object, stored } = await uploadChecked(pipeline, 'flag/redelivered.jpg', fixtureImage('grace-hopper.jpg'));
    await pipeline.deliver([{ object, receiveCount: 2 }]);

    expect(await pipeline.results.read(BUCKET, object.key)).toEqual(stored);
    expect(stored).not.toHaveProperty('replay');
    expect(pipeline.upstreamChecks()).toBe(1);
  });

  it('does not flag a version checked again after an invocation died with its digests stored', async () => {
    const photo = fixtureImage('rocket.jpg');
    const object = await pipeline.put(`${PREFIX}flag/interrupted.jpg`, photo);
    await leftByADeadInvocation(pipeline, object, photo);

    await pipeline.deliver([{ object }]);

    expect(await pipeline.results.read(BUCKET, object.key)).toMatchObject({ status: 'COMPLETED' });
    expect(await pipeline.results.read(BUCKET, object.key)).not.toHaveProperty('replay');
    // The same bytes under another key are a replay of that version's check.
    expect((await uploadChecked(pipeline, 'flag/rocket-again.jpg', photo)).stored).toMatchObject({ replay: { kind: 'exact' } });
  });

  it('does not flag the retry of an upload whose check failed upstream', async () => {
    const object = await pipeline.put(`${PREFIX}flag/failed.png`, fixtureImage('camera.png'));
    pipeline.deepvue.inject(CHECK, faults.unavailable());
    expect((await pipeline.deliver([{ object }])).batchItemFailures).toHaveLength(1);

    await pipeline.deliver([{ object, receiveCount: 2 }]);

    expect(await pipeline.results.read(BUCKET, object.key)).toMatchObject({ status: 'COMPLETED' });
    expect(await pipeline.results.read(BUCKET, object.key)).not.toHaveProperty('replay');
  });
});

describe('uploads, REPLAY_POLICY=refuse', () => {
  const pipeline = usePipeline({ REPLAY_TABLE, REPLAY_POLICY: 'refuse' });

  it('records a photo uploaded again REJECTED with REPLAYED_IMAGE, without an upstream call', async () => {
    const first = await uploadChecked(pipeline, 'refuse/first.png', fixtureImage('chelsea.png'));
    pipeline.deepvue.clearCalls();

    const again = await uploadChecked(pipeline, 'refuse/again.png', fixtureImage('chelsea.png'));

    expect(pipeline.upstreamChecks()).toBe(0);
    expect(again.stored).toMatchObject({
      status: 'REJECTED',
      result: { code: 409, sub_code: 'REPLAYED_IMAGE' },
      replay: { kind: 'exact', first_transaction_id: transactionIdOf(first.stored?.result) },
    });
    expect(pipeline.output.metricRecords('ReplayDetected').map((record) => record.Kind)).toEqual(['exact']);
  });
});

/** Opens a session, uploads `photo` through its form, delivers it, and reads the session back. */
async function sessionOf(sessions: SessionsUnderTest, photo: Uint8Array) {
  const id = await sessions.open();
  expect(await sessions.post(await sessions.form(id), photo)).toBe(204);
  const answer = await sessions.pipeline.deliver(sessions.takeStored().map((object) => ({ object })));
  expect(answer.batchItemFailures).toEqual([]);
  return (await sessions.call('read', { id })).body;
}

/** A sessions stack for the tests of a `describe`; one at a time, as the SDK's clients read the endpoints from the process's environment. */
function useSessions(env: Record<string, string | undefined>): () => SessionsUnderTest {
  let sessions: SessionsUnderTest | undefined;
  beforeAll(async () => {
    sessions = await startSessions(env);
  });
  afterAll(async () => sessions?.close());
  return () => sessions!;
}

describe('liveness sessions, REPLAY_POLICY=flag', () => {
  const stack = useSessions({ REPLAY_TABLE });

  it('gives a session whose selfie was checked before (a plain upload) a `replay` result', async () => {
    const first = await uploadChecked(stack().pipeline, 'plain/selfie.jpg', fixtureImage('live-selfie-exif-rotated.jpg'));
    // The plain upload's own notification, seen by the sessions' bucket too: delivered already.
    stack().takeStored();
    const session = await sessionOf(stack(), fixtureImage('live-selfie-exif-rotated.jpg'));
    expect(session).toMatchObject({ status: 'COMPLETED', replay: { kind: 'exact', first_transaction_id: transactionIdOf(first.stored?.result) } });
    // Another session's new selfie is not one.
    expect(await sessionOf(stack(), fixtureImage('face.png'))).not.toHaveProperty('replay');
  });

  it('does not flag a session’s own attempt at its image, left by an invocation that died', async () => {
    const photo = fixtureImage('two-faces.jpg');
    const id = await stack().open();
    expect(await stack().post(await stack().form(id), photo)).toBe(204);
    const [object] = stack().takeStored();
    await leftByADeadInvocation(stack().pipeline, object!, photo);
    await stack().pipeline.deliver([{ object: object! }]);
    const session = (await stack().call('read', { id })).body;
    expect(session).toMatchObject({ status: 'COMPLETED' });
    expect(session).not.toHaveProperty('replay');
  });
});

describe('liveness sessions, REPLAY_POLICY=refuse', () => {
  const stack = useSessions({ REPLAY_TABLE, REPLAY_POLICY: 'refuse' });

  it('ends a session REJECTED with REPLAYED_IMAGE, without an upstream call', async () => {
    await sessionOf(stack(), fixtureImage('spoof-printed-photo.jpg'));
    stack().pipeline.deepvue.clearCalls();
    const session = await sessionOf(stack(), fixtureImage('spoof-printed-photo.jpg'));
    expect(session).toMatchObject({ status: 'REJECTED', result: { code: 409, sub_code: 'REPLAYED_IMAGE' }, replay: { kind: 'exact' } });
    expect(stack().pipeline.upstreamChecks()).toBe(0);
  });
});

/**
 * The digests an invocation that died after storing them would leave for this version (or its
 * session): what the check of the version stores first, under the identity it checks with.
 */
async function leftByADeadInvocation(pipeline: UploadPipeline, object: StoredObject, photo: Buffer): Promise<void> {
  const client = new DynamoDBClient(localDynamoConfig(pipeline.dynamo.endpoint));
  try {
    const store = new DigestStore({ client, tableName: REPLAY_TABLE, windowDays: 30 });
    const identity = checkIdentity(PREFIX, { bucket: object.bucket, key: object.key, version: object.eTag, versionId: undefined, eTag: object.eTag });
    const sha256 = createHash('sha256').update(photo).digest('hex');
    await store.add({ sha256, perceptual: perceptualHash({ ...decodeJpeg(photo), orientation: 1 }), identity }, new Date(Date.now() - 60_000));
  } finally {
    client.destroy();
  }
}

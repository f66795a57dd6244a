import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectTaggingCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { StoredObject } from '../../lib/uploads/notifications.ts';
import { versionRecords, type VersionRecordKind } from '../../lib/uploads/version-records.ts';
import { faults } from '../support/deepvue-emulator.ts';
import { localDynamoConfig } from '../support/dynalite.ts';
import { startFaultProxy, s3SlowDown, type FaultProxy } from '../support/fault-proxy.ts';
import { callApi, loadFunction, restEvent, type RestHandler } from '../support/lambda.ts';
import { fixtureImage } from '../support/relay.ts';
import { startSessions, type SessionsUnderTest } from '../support/sessions.ts';
import { BUCKET, MAX_RECEIVE_COUNT, RESULTS_TABLE } from '../support/uploads.ts';

/**
 * Selfies are kept no longer than needed: once its result is recorded (COMPLETED, REJECTED, or
 * FAILED on the last receive), the upload path deletes the image, exactly the version it
 * checked, and the outcome it kept; a late delivery of it changes nothing. With
 * KEEP_UPLOADS_HOURS the image stays for the bucket's lifecycle rule.
 */
const SELFIE = fixtureImage('face-480p.jpg');
const NOT_AN_IMAGE = Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n'.repeat(50));

let sessions: SessionsUnderTest;
let table: DynamoDBClient;
let erasure: RestHandler;

beforeAll(async () => {
  sessions = await startSessions();
  table = new DynamoDBClient(localDynamoConfig(sessions.pipeline.dynamo.endpoint));
  erasure = await loadFunction('liveness-erasure', { ...sessions.env, AWS_LAMBDA_FUNCTION_NAME: 'livenessErasure' });
});
afterAll(async () => {
  table.destroy();
  await sessions.close();
});
beforeEach(async () => {
  await sessions.pipeline.restart(sessions.env);
  sessions.pipeline.deepvue.clearCalls();
  sessions.pipeline.output.clear();
  sessions.takeStored();
});

const pipeline = () => sessions.pipeline;

async function held(key: string): Promise<boolean> {
  return pipeline().s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })).then(() => true, () => false);
}

async function versionRecord(kind: VersionRecordKind, object: StoredObject): Promise<{ status: string; data: unknown } | undefined> {
  const { layer } = await versionRecords(kind, { client: table, tableName: RESULTS_TABLE, retentionDays: 30 });
  try {
    const record = await layer.getRecord({ bucket: object.bucket, key: object.key, version: object.eTag });
    return { status: record.getStatus(), data: record.responseData };
  } catch {
    return undefined;
  }
}

async function deliver(object: StoredObject, receiveCount = 1) {
  return pipeline().deliver([{ object, receiveCount }]);
}

describe('an uploaded image, once its result is recorded', () => {
  it('is deleted when COMPLETED, with the outcome kept for it; its claim keeps only the status', async () => {
    const object = await pipeline().put('uploads/retention/completed.jpg', SELFIE);

    expect((await deliver(object)).batchItemFailures).toEqual([]);

    expect(await pipeline().results.read(BUCKET, object.key)).toMatchObject({ status: 'COMPLETED', result: { sub_code: 'SUCCESS' } });
    expect(await held(object.key)).toBe(false);
    expect(await versionRecord('upload-outcome', object)).toBeUndefined();
    expect(await versionRecord('upload-claim', object)).toEqual({ status: 'COMPLETED', data: { status: 'COMPLETED' } });
    // Deleted, not tagged: nothing of the verdict stays on the object.
    expect(pipeline().output.text()).not.toContain('could not tag');
  });

  it('is deleted when REJECTED, unchecked', async () => {
    const object = await pipeline().put('uploads/retention/rejected.jpg', NOT_AN_IMAGE);

    await deliver(object);

    expect(await pipeline().results.read(BUCKET, object.key)).toMatchObject({ status: 'REJECTED' });
    expect(await held(object.key)).toBe(false);
    expect(pipeline().upstreamChecks()).toBe(0);
  });

  it('stays while a failed check will be tried again, and is deleted when FAILED on the last receive', async () => {
    const object = await pipeline().put('uploads/retention/failed.jpg', SELFIE);
    pipeline().deepvue.inject('/v1/liveness-check', faults.unavailable(), MAX_RECEIVE_COUNT);

    for (let receive = 1; receive < MAX_RECEIVE_COUNT; receive += 1) {
      expect((await deliver(object, receive)).batchItemFailures).toHaveLength(1);
      expect(await held(object.key)).toBe(true);
    }
    expect((await deliver(object, MAX_RECEIVE_COUNT)).batchItemFailures).toHaveLength(1);

    expect(await pipeline().results.read(BUCKET, object.key)).toMatchObject({ status: 'FAILED', result: { sub_code: 'UPSTREAM_UNAVAILABLE' } });
    expect(await held(object.key)).toBe(false);
  });

  it('is deleted by exactly the version checked', async () => {
    const object = await pipeline().put('uploads/retention/versioned.jpg', SELFIE);
    const before = sessions.gate.requests().length;

    await deliver({ ...object, versionId: 'v-checked' });

    const deletes = sessions.gate.requests().slice(before).filter((request) => request.startsWith('DELETE') && request.includes('versioned.jpg'));
    expect(deletes).toEqual([expect.stringMatching(/\?versionId=v-checked(&|$)/)]);
  });

  it('of a liveness session is deleted too, and the session keeps its verdict', async () => {
    const id = await sessions.open('case-retention');
    expect(await sessions.post(await sessions.form(id), SELFIE)).toBe(204);
    const [stored] = sessions.takeStored();

    expect((await deliver(stored!)).batchItemFailures).toEqual([]);

    expect((await sessions.call('read', { id })).body).toMatchObject({ status: 'COMPLETED', result: { sub_code: 'SUCCESS' } });
    expect(await held(stored!.key)).toBe(false);
  });

  it('delivered again: no failure, no upstream call, the recorded result unchanged, even once its claim is gone', async () => {
    const object = await pipeline().put('uploads/retention/redelivered.jpg', SELFIE);
    await deliver(object);
    const recorded = await pipeline().results.read(BUCKET, object.key);
    pipeline().deepvue.clearCalls();

    expect((await deliver(object, 1)).batchItemFailures).toEqual([]);
    expect(pipeline().output.paidCallsAvoided()).toEqual(['duplicate-delivery']);
    // Without the claim (past its retention, say), the version is found gone: its FAILED does not
    // replace what its own check recorded.
    const { layer } = await versionRecords('upload-claim', { client: table, tableName: RESULTS_TABLE, retentionDays: 30 });
    await layer.deleteRecord({ bucket: object.bucket, key: object.key, version: object.eTag });
    expect((await deliver(object, 1)).batchItemFailures).toEqual([]);

    expect(pipeline().upstreamChecks()).toBe(0);
    expect(await pipeline().results.read(BUCKET, object.key)).toEqual(recorded);
  });

  it('stays when it cannot be deleted: the result stands, and the bucket’s lifecycle rule deletes it', async () => {
    const s3 = await startFaultProxy(sessions.env.AWS_ENDPOINT_URL_S3 ?? '');
    try {
      await pipeline().restart({ ...sessions.env, AWS_ENDPOINT_URL_S3: s3.url });
      s3.inject(s3SlowDown(), Infinity, (request) => request.method === 'DELETE');
      const object = await pipeline().put('uploads/retention/undeletable.jpg', SELFIE);

      expect((await deliver(object)).batchItemFailures).toEqual([]);

      expect(await pipeline().results.read(BUCKET, object.key)).toMatchObject({ status: 'COMPLETED' });
      expect(await held(object.key)).toBe(true);
      expect(pipeline().output.text()).toContain('could not delete a checked image');
    } finally {
      await s3.close();
    }
  });

  it('stays, tagged with its outcome, when KEEP_UPLOADS_HOURS keeps it', async () => {
    await pipeline().restart({ ...sessions.env, KEEP_UPLOADS_HOURS: '6' });
    const object = await pipeline().put('uploads/retention/kept.jpg', SELFIE);

    await deliver(object);

    expect(await held(object.key)).toBe(true);
    const { TagSet } = await pipeline().s3.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: object.key }));
    expect(TagSet).toEqual([{ Key: 'liveness-sub-code', Value: 'SUCCESS' }, { Key: 'liveness-is-live', Value: 'true' }]);
    expect(await versionRecord('upload-outcome', object)).toBeUndefined();
  });

  it('leaves nothing for an erasure to delete but the result: DELETE answers image_versions 0', async () => {
    const object = await pipeline().put('uploads/retention/then-erased.jpg', SELFIE);
    await deliver(object);
    const encoded = encodeURIComponent(object.key);
    const base = restEvent('DELETE', `/v1/liveness-results/${encoded}`, { body: null, headers: {} });

    const answer = await callApi(erasure, { ...base, resource: '/v1/liveness-results/{key+}', pathParameters: { key: encoded } }, 10_000);

    expect(answer.body).toMatchObject({ erased: { result: true, image_versions: 0, digests: 0 } });
  });
});

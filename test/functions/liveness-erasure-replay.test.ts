import { createHash } from 'node:crypto';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localDynamoConfig } from '../support/dynalite.ts';
import { callApi, loadFunction, restEvent, type RestHandler } from '../support/lambda.ts';
import { fixtureImage } from '../support/relay.ts';
import { startSessions, type SessionsUnderTest } from '../support/sessions.ts';
import { BUCKET, PREFIX, REPLAY_TABLE } from '../support/uploads.ts';

/**
 * Erasure and replay detection: the digests an upload's check left (its SHA-256 and perceptual
 * hash, under every check of those very bytes) are erased with it and counted in the receipt's
 * `digests`; once erased, the same photo is a first check again. An upload erased while it was
 * checked leaves no digest behind either.
 */
let sessions: SessionsUnderTest;
let table: DynamoDBClient;
let erasure: RestHandler;

beforeAll(async () => {
  sessions = await startSessions({ REPLAY_TABLE });
  table = new DynamoDBClient(localDynamoConfig(sessions.pipeline.dynamo.endpoint));
  erasure = await loadFunction('liveness-erasure', { ...sessions.env, AWS_LAMBDA_FUNCTION_NAME: 'livenessErasure' });
  // The checking function again, last: loadFunction sets the environment of the function it loads.
  await sessions.pipeline.restart({ AWS_ENDPOINT_URL_S3: sessions.env.AWS_ENDPOINT_URL_S3 });
});
afterAll(async () => {
  table.destroy();
  await sessions.close();
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function eraseUpload(key: string) {
  const resource = '/v1/liveness-results/{key+}';
  const encoded = encodeURIComponent(key);
  const base = restEvent('DELETE', `/v1/liveness-results/${encoded}`, { body: null, headers: {} });
  const answer = await callApi(erasure, { ...base, resource, pathParameters: { key: encoded } }, 10_000);
  return { status: answer.status, body: answer.body as { erased: Record<string, unknown> } };
}

async function eraseSession(id: string) {
  const resource = '/v1/liveness-sessions/{id}';
  const base = restEvent('DELETE', `/v1/liveness-sessions/${id}`, { body: null, headers: {} });
  const answer = await callApi(erasure, { ...base, resource, pathParameters: { id } }, 10_000);
  return { status: answer.status, body: answer.body as { erased: Record<string, unknown> } };
}

/** Uploads `photo` under `key` and checks it; its stored result. */
async function checked(key: string, photo: Buffer) {
  const object = await sessions.pipeline.put(`${PREFIX}${key}`, photo);
  sessions.takeStored();
  expect((await sessions.pipeline.deliver([{ object }])).batchItemFailures).toEqual([]);
  return sessions.pipeline.results.read(BUCKET, object.key);
}

/** Items of the replay table under the exact digest of `photo`, and in all. */
async function digestItems(photo?: Buffer): Promise<number> {
  const { Items = [] } = await table.send(new ScanCommand({ TableName: REPLAY_TABLE }));
  return photo === undefined ? Items.length : Items.filter((item) => item.pk?.S === `exact#${sha256(photo)}`).length;
}

describe('DELETE /v1/liveness-results/{key+} with replay detection on', () => {
  it('erases the digests of every check of the image, counts them, and the photo is a first check again', async () => {
    const photo = fixtureImage('grace-hopper.jpg');
    await checked('erase/first.jpg', photo);
    expect(await checked('erase/again.jpg', photo)).toMatchObject({ replay: { kind: 'exact' } });
    const other = await checked('erase/other.png', fixtureImage('chelsea.png'));
    const before = await digestItems();
    expect(await digestItems(photo)).toBe(2);

    const answer = await eraseUpload(`${PREFIX}erase/first.jpg`);

    // Two checks of the same bytes: the first stored an exact and a perceptual digest, the resent one its exact digest only.
    expect(answer).toMatchObject({ status: 200, body: { erased: { result: true, digests: 3 } } });
    expect(await digestItems(photo)).toBe(0);
    expect(await digestItems()).toBeLessThan(before);
    expect(other).not.toHaveProperty('replay');
    expect(await checked('erase/after.jpg', photo)).not.toHaveProperty('replay');
    expect((await checked('erase/other-again.png', fixtureImage('chelsea.png')))?.replay).toMatchObject({ kind: 'exact' });
  });

  it('leaves no digest of an upload erased while it was checked', async () => {
    const photo = fixtureImage('astronaut.png');
    const object = await sessions.pipeline.put(`${PREFIX}erase/while-checking.png`, photo);
    sessions.takeStored();
    let release = () => undefined as void;
    sessions.pipeline.deepvue.inject('/v1/liveness-check', { kind: 'held', until: new Promise<void>((resolve) => { release = resolve; }) });
    const checking = sessions.pipeline.deliver([{ object }]);
    // The check has stored its digests and waits for Deepvue.
    await expect.poll(() => digestItems(photo)).toBe(1);

    const answer = await eraseUpload(object.key);
    release();

    // No result named the image yet: the erasure could not find its digests, the check takes them back.
    expect(answer.body).toMatchObject({ erased: { digests: 0 } });
    expect((await checking).batchItemFailures).toEqual([]);
    expect(await digestItems(photo)).toBe(0);
  });

  it('erases a session’s digests with the session', async () => {
    const photo = fixtureImage('rocket.jpg');
    const id = await sessions.open();
    expect(await sessions.post(await sessions.form(id), photo)).toBe(204);
    expect((await sessions.pipeline.deliver(sessions.takeStored().map((object) => ({ object })))).batchItemFailures).toEqual([]);
    expect(await digestItems(photo)).toBe(1);

    expect(await eraseSession(id)).toMatchObject({ status: 200, body: { erased: { result: true, digests: 2 } } });
    expect(await digestItems(photo)).toBe(0);
  });
});

import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CHECK } from '../support/deepvue-emulator.ts';
import { localDynamoConfig, useDynalite } from '../support/dynalite.ts';
import { callApi, loadFunction, restEvent, type RestHandler } from '../support/lambda.ts';
import { fixtureImage, startRelay, type RelayUnderTest } from '../support/relay.ts';
import { startSessions, type SessionsUnderTest } from '../support/sessions.ts';
import { RESULTS_TABLE } from '../support/uploads.ts';

/**
 * Records past their `expires_at` are never served, even while DynamoDB's TTL sweep, which runs
 * up to days late, has not removed them: a stored result, a session, and an answer kept under an
 * Idempotency-Key. The clock is the test's: Date is moved, the items stay in the table.
 */
const SELFIE = fixtureImage('face-480p.jpg');
const DAY_MS = 24 * 60 * 60 * 1000;

let sessions: SessionsUnderTest;
let relay: RelayUnderTest;
let results: RestHandler;
let table: DynamoDBClient;

const dynalite = useDynalite(RESULTS_TABLE);

beforeAll(async () => {
  // The relay first: the SDK reads credentials and endpoints when a client first sends, so the
  // environment the upload pipeline sets last is the one every function runs with.
  relay = await startRelay({ env: { RESULTS_TABLE, AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint } });
  sessions = await startSessions();
  results = await loadFunction('liveness-result', { ...sessions.env, AWS_LAMBDA_FUNCTION_NAME: 'livenessResult' });
  table = new DynamoDBClient(localDynamoConfig(sessions.pipeline.dynamo.endpoint));
});
afterAll(async () => {
  table.destroy();
  await relay.close();
  await sessions.close();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Moves the clock of this process (the relay's, the servers') to `at`. */
function setClock(at: number): void {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(at);
}

/** The expires_at (epoch seconds) of the table's item `pk`. */
async function expiresAt(pk: string): Promise<number> {
  const { Items = [] } = await table.send(new ScanCommand({ TableName: RESULTS_TABLE }));
  const item = Items.find((candidate) => candidate.pk?.S === pk);
  if (item?.expires_at?.N === undefined) throw new Error(`no item ${pk}`);
  return Number(item.expires_at.N);
}

async function readResult(key: string): Promise<number> {
  const encoded = encodeURIComponent(key);
  const base = restEvent('GET', `/v1/liveness-results/${encoded}`, { body: null, headers: {} });
  return (await callApi(results, { ...base, pathParameters: { key: encoded } }, 10_000)).status;
}

describe('never served past expires_at', () => {
  it('a stored result: served up to its expiry, 404 NOT_FOUND from then on, with the item still in the table', async () => {
    const key = 'uploads/expiry/selfie.jpg';
    await sessions.pipeline.deliver([{ object: await sessions.pipeline.put(key, SELFIE) }]);
    const expiry = await expiresAt(`s3://selfies-test/${key}`);
    expect(expiry * 1000 - Date.now()).toBeGreaterThan(29 * DAY_MS);

    setClock(expiry * 1000 - 1000);
    expect(await readResult(key)).toBe(200);
    setClock(expiry * 1000);
    expect(await readResult(key)).toBe(404);
    await expect(expiresAt(`s3://selfies-test/${key}`)).resolves.toBe(expiry);
  });

  it('a session and its verdict: read by its backend up to its expiry, then 404 NOT_FOUND on every route', async () => {
    const id = await sessions.open('case-expiry');
    // Checked first: the bucket (s3rver, which refuses requests signed at a moved clock) is not asked again.
    expect(await sessions.post(await sessions.form(id), SELFIE)).toBe(204);
    await sessions.pipeline.deliver(sessions.takeStored().map((object) => ({ object })));
    const { Items = [] } = await table.send(new ScanCommand({ TableName: RESULTS_TABLE }));
    const pk = Items.find((item) => item.reference?.S === 'case-expiry')?.pk?.S ?? '';
    const expiry = await expiresAt(pk);

    setClock(expiry * 1000 - 1000);
    expect((await sessions.call('read', { id })).body).toMatchObject({ status: 'COMPLETED' });
    setClock(expiry * 1000);
    for (const route of ['read', 'progress', 'upload'] as const) expect((await sessions.call(route, { id })).status).toBe(404);
  });

  it('an answer kept under an Idempotency-Key: replayed within its 24 hours, checked afresh after', async () => {
    const image = SELFIE.toString('base64');
    const post = () => relay.invoke({ body: JSON.stringify({ image }), headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'order-expiry-1' } });
    const start = Date.now();
    expect((await post()).status).toBe(200);

    setClock(start + DAY_MS - 60_000);
    relay.deepvue.clearCalls();
    expect((await post()).headers['idempotent-replayed']).toBe('true');
    expect(relay.upstreamCalls(CHECK)).toBe(0);

    setClock(start + DAY_MS + 1000);
    const fresh = await post();
    expect(fresh.status).toBe(200);
    expect(fresh.headers['idempotent-replayed']).toBeUndefined();
    expect(relay.upstreamCalls(CHECK)).toBe(1);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalServer, type LocalServer } from '../support/local-server.ts';
import { fixtureImage } from '../support/relay.ts';

/**
 * `npm start` compares replayed images as a deployed stack does: it creates the replay table on
 * its embedded DynamoDB beside the token and results tables, and says so at start.
 */
const SANDBOX = { DEEPVUE_CLIENT_ID: undefined, DEEPVUE_CLIENT_SECRET: undefined, DEEPVUE_SECRET_ID: undefined };
const LOCAL_TABLES = { TOKEN_TABLE: undefined, RESULTS_TABLE: undefined, REPLAY_TABLE: undefined, REPLAY_POLICY: undefined, AWS_ENDPOINT_URL_DYNAMODB: undefined };

describe('npm start, replayed images', () => {
  let server: LocalServer;
  beforeAll(async () => {
    server = await startLocalServer({ ...SANDBOX, ...LOCAL_TABLES });
  }, 120_000);
  afterAll(() => server?.stop());

  const post = (image: Buffer) =>
    server.request('/v1/liveness-check', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ image: image.toString('base64') }) });

  it('says images are compared, and flags the same photo sent again, naming the first check', async () => {
    expect(server.output()).toContain('[start] Replayed images: REPLAY_POLICY=flag');
    expect(server.output()).toContain('liveness-relay-local-replay');
    const first = await post(fixtureImage('grace-hopper.jpg'));
    const again = await post(fixtureImage('grace-hopper.jpg'));

    expect([first.status, first.headers['x-liveness-replay']]).toEqual([200, undefined]);
    expect([again.status, again.headers['x-liveness-replay'], again.headers['x-liveness-replay-of']]).toEqual([
      200,
      'exact',
      (JSON.parse(first.text) as { transaction_id: string }).transaction_id,
    ]);
  });
});

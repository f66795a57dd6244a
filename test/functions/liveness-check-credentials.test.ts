import { describe, expect, it } from 'vitest';
import { AUTHORIZE, CHECK, faults } from '../support/deepvue-emulator.ts';
import {
  CLIENT,
  expectRelayAnswer,
  expectUpstreamAnswer,
  fixtureImage,
  SECRET_ID,
  secretValue,
  useRelay,
} from '../support/relay.ts';

const PHOTO = fixtureImage('spoof-printed-photo.jpg').toString('base64');
const DORMANT = 'dormant-client';

const relay = useRelay({
  inactiveClients: [DORMANT],
  beforeEach: async (relay) => {
    relay.secrets.failNext(0);
    relay.secrets.setSecret(SECRET_ID, secretValue(CLIENT.id, CLIENT.secret));
    relay.deepvue.setClient(CLIENT.id, CLIENT.secret);
    await relay.restart();
  },
});

const bearerOf = (index: number) => relay.deepvue.calls(CHECK)[index]?.headers.authorization;

describe('the secret is loaded once per container', () => {
  it('fetches it once for many checks, and again in a new container', async () => {
    const before = relay.secrets.callsFor(SECRET_ID);
    for (let check = 0; check < 5; check += 1) expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    expect(relay.secrets.callsFor(SECRET_ID) - before).toBe(1);
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(1);
    expect(relay.upstreamCalls(CHECK)).toBe(5);

    await relay.restart();
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    expect(relay.secrets.callsFor(SECRET_ID) - before).toBe(2);
  });

  it('lets concurrent first checks share one fetch and one authorize', async () => {
    const before = relay.secrets.callsFor(SECRET_ID);
    const answers = await Promise.all([relay.post(PHOTO), relay.post(PHOTO), relay.post(PHOTO)]);
    for (const answer of answers) expectUpstreamAnswer(answer, 200, 'SUCCESS');
    expect(relay.secrets.callsFor(SECRET_ID) - before).toBe(1);
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(1);
  });

  it('fetches it again when Deepvue refuses the cached credentials, and uses the rotated ones', async () => {
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    const before = relay.secrets.callsFor(SECRET_ID);
    // Rotation: a new client secret in Secrets Manager and at Deepvue, old tokens revoked.
    const rotated = 'relay-secret-rotated-9a8b';
    relay.secrets.setSecret(SECRET_ID, secretValue(CLIENT.id, rotated));
    relay.deepvue.setClient(CLIENT.id, rotated);
    relay.deepvue.revokeTokens();
    relay.deepvue.clearCalls();

    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    expect(relay.secrets.callsFor(SECRET_ID) - before).toBe(1);
    expect(relay.deepvue.calls(AUTHORIZE).map((call) => call.body.client_secret)).toEqual([CLIENT.secret, rotated]);
    expect(relay.deepvue.calls(CHECK).map((call) => call.headers['x-api-key'])).toEqual([CLIENT.secret, rotated]);

    relay.deepvue.clearCalls();
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(0);
    expect(relay.secrets.callsFor(SECRET_ID) - before).toBe(1);
  });

  const restoreSecret = () => relay.secrets.setSecret(SECRET_ID, secretValue(CLIENT.id, CLIENT.secret));
  it.each<[string, () => unknown, () => unknown]>([
    // The Deepvue secret alone: without the signing key no check is made at all (verdict-signing.test.ts).
    ['Secrets Manager failing', () => relay.secrets.failNext(10, 'error', SECRET_ID), () => relay.secrets.failNext(0)],
    ['a secret that is not JSON', () => relay.secrets.setSecret(SECRET_ID, 'client_id=relay-client'), restoreSecret],
    ['a secret without client_secret', () => relay.secrets.setSecret(SECRET_ID, JSON.stringify({ client_id: CLIENT.id })), restoreSecret],
    ['no such secret', () => relay.restart({ DEEPVUE_SECRET_ID: 'deepvue/missing' }), () => relay.restart()],
  ])('answers 503 UPSTREAM_UNAVAILABLE with Retry-After on %s, then recovers', async (_, breakIt, repair) => {
    await breakIt();
    const answer = await relay.post(PHOTO);
    expectRelayAnswer(answer, 503, 'UPSTREAM_UNAVAILABLE');
    expect(relay.upstreamCalls()).toBe(0);

    await repair();
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
  });
});

describe('a Secrets Manager that never answers', () => {
  it('answers 504 UPSTREAM_TIMEOUT before the function runs out of time', async () => {
    relay.secrets.failNext(10, 'hang', SECRET_ID);
    const started = Date.now();
    const answer = await relay.post(PHOTO, 2000);
    expectRelayAnswer(answer, 504, 'UPSTREAM_TIMEOUT');
    // middy answers a few milliseconds before the time is out; Lambda would otherwise kill the call.
    expect(Date.now() - started).toBeLessThan(2100);
    expect(relay.upstreamCalls()).toBe(0);
  });
});

describe('upstream 401: the token is dropped, renewed once and the call repeated once', () => {
  it('renews a revoked token and answers; later checks use the renewed token', async () => {
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    relay.deepvue.revokeTokens();
    relay.deepvue.clearCalls();

    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(1);
    expect(relay.upstreamCalls(CHECK)).toBe(2);
    const [revoked, renewed] = [bearerOf(0), bearerOf(1)];
    expect(renewed).not.toBe(revoked);

    relay.deepvue.clearCalls();
    expectUpstreamAnswer(await relay.post(PHOTO), 200, 'SUCCESS');
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(0);
    expect(bearerOf(0)).toBe(renewed);
  });

  it.each([
    ['Not a valid token', faults.invalidToken()],
    ['Not authenticated', faults.notAuthenticated()],
  ])('a fresh token still refused (%s) → 502 UPSTREAM_AUTH_FAILED after exactly 2 authorize and 2 checks', async (_, fault) => {
    relay.deepvue.inject(CHECK, fault, 2);
    expectRelayAnswer(await relay.post(PHOTO), 502, 'UPSTREAM_AUTH_FAILED');
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(2);
    expect(relay.upstreamCalls(CHECK)).toBe(2);
    expect(bearerOf(1)).not.toBe(bearerOf(0));
  });
});

describe('refused credentials → 502 UPSTREAM_AUTH_FAILED', () => {
  it('an inactive client: authorize answers 400 Inactive client_id, no check is sent', async () => {
    relay.secrets.setSecret(SECRET_ID, secretValue(DORMANT, 'dormant-secret'));
    await relay.restart();
    expectRelayAnswer(await relay.post(PHOTO), 502, 'UPSTREAM_AUTH_FAILED');
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(1);
    expect(relay.upstreamCalls(CHECK)).toBe(0);
  });

  it('a wrong client secret: authorize answers 401, the secret is fetched again, no check is sent', async () => {
    relay.secrets.setSecret(SECRET_ID, secretValue(CLIENT.id, 'a-stale-secret'));
    await relay.restart();
    const before = relay.secrets.callsFor(SECRET_ID);
    expectRelayAnswer(await relay.post(PHOTO), 502, 'UPSTREAM_AUTH_FAILED');
    expect(relay.secrets.callsFor(SECRET_ID) - before).toBe(2);
    expect(relay.upstreamCalls(AUTHORIZE)).toBe(1);
    expect(relay.upstreamCalls(CHECK)).toBe(0);
  });

  it.each([
    ['400 Inactive client_id', faults.inactiveClient()],
    ['403 Forbidden', faults.forbidden()],
  ])('a liveness check answered %s, not retried', async (_, fault) => {
    relay.deepvue.inject(CHECK, fault);
    expectRelayAnswer(await relay.post(PHOTO), 502, 'UPSTREAM_AUTH_FAILED');
    expect(relay.upstreamCalls(CHECK)).toBe(1);
  });
});

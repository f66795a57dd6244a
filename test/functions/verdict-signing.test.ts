import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newPrivateJwk } from '../../lib/evidence/jwk.ts';
import { jsonLines, metricRecords } from '../support/emf.ts';
import { documented } from '../support/deepvue-emulator.ts';
import { expectRelayAnswer, fixtureImage, useRelay } from '../support/relay.ts';
import { SIGNING_KEY_SECRET_ID } from '../support/secrets-manager.ts';
import { getJwks, jwksFunction, publishedKeys, verifyVerdict } from '../support/verdicts.ts';

const PHOTO = fixtureImage('face-480p.jpg');
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

const relay = useRelay({ env: { RESULTS_TABLE: undefined } });
const jwks = async () => publishedKeys(await jwksFunction(relay.env()));

describe('POST /v1/liveness-check: every verdict signed', () => {
  it('signs Deepvue’s verdict in x-liveness-signature: jose verifies it with the JWKS, and its claims are the answer’s', async () => {
    const answer = await relay.post(PHOTO.toString('base64'));
    const body = answer.body as { transaction_id: string };
    expect(await verifyVerdict(answer.headers['x-liveness-signature'] ?? '', await jwks())).toEqual({
      transaction_id: body.transaction_id,
      sub_code: 'SUCCESS',
      is_live: true,
      score: null,
      image_sha256: sha256(PHOTO),
      source: 'api',
      subject: null,
      replay: null,
      iat: expect.any(Number),
    });
  });

  it('signs Deepvue’s refusals and spoof verdicts too, and an image URL with no image_sha256', async () => {
    relay.deepvue.inject('/v1/liveness-check', documented('liveness-success', { data: { is_live: false, score: 0.12 } }));
    const spoof = await relay.post(PHOTO.toString('base64'));
    expect(await verifyVerdict(spoof.headers['x-liveness-signature'] ?? '', await jwks())).toMatchObject({ sub_code: 'SUCCESS', is_live: false, score: 0.12 });

    relay.deepvue.inject('/v1/liveness-check', documented('liveness-invalid-url'));
    const refused = await relay.post('https://images.example.com/selfie.jpg');
    expect(refused.status).toBe(422);
    expect(await verifyVerdict(refused.headers['x-liveness-signature'] ?? '', await jwks())).toMatchObject({
      sub_code: 'INVALID_URL',
      is_live: null,
      image_sha256: null,
    });
  });

  it('signs nothing the relay refuses itself: those are not verdicts', async () => {
    for (const image of ['', 'not base64 !', 'https://127.0.0.1/selfie.jpg', Buffer.from('%PDF-1.7').toString('base64')]) {
      const answer = await relay.post(image);
      expect(answer.status, image).toBe(422);
      expect(answer.headers['x-liveness-signature'], image).toBeUndefined();
    }
  });
});

describe('fail closed: no signing key, no check', () => {
  it.each<[string, Record<string, string | undefined>, () => void, RegExp]>([
    ['a deployment without SIGNING_KEY_SECRET_ID', { SIGNING_KEY_SECRET_ID: undefined }, () => undefined, /SIGNING_KEY_SECRET_ID is not set/],
    ['a secret that is not JSON', {}, () => relay.secrets.setSecret(SIGNING_KEY_SECRET_ID, 'MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF'), /not JSON/],
    ['an RSA key', {}, () => relay.secrets.setSecret(SIGNING_KEY_SECRET_ID, JSON.stringify({ kty: 'RSA', n: 'AQAB'.repeat(20), e: 'AQAB', d: 'c2VjcmV0'.repeat(20) })), /"kty": "RSA"/],
    ['a public key only', {}, () => relay.secrets.setSecret(SIGNING_KEY_SECRET_ID, JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: newPrivateJwk().x })), /public key only/],
    ['no such secret', { SIGNING_KEY_SECRET_ID: 'liveness-relay/missing/signing-key' }, () => undefined, /not found/],
  ])('%s: 500 INTERNAL_SERVER_ERROR before any upstream call, the reason logged without the key, the alarm’s metric counted', async (_, env, arrange, why) => {
    const good = JSON.stringify(newPrivateJwk());
    try {
      arrange();
      await relay.restart(env);
      const answer = await relay.post(PHOTO.toString('base64'));

      expectRelayAnswer(answer, 500, 'INTERNAL_SERVER_ERROR');
      expect(answer.headers['x-liveness-signature']).toBeUndefined();
      expect(relay.upstreamCalls()).toBe(0);
      const text = relay.output.text();
      const reasons = jsonLines(text).filter((line) => line.message === 'the signing key cannot be loaded: verdicts cannot be signed, so checks are refused before any upstream call');
      // The container's own reason (an earlier container's start may still be logging its own).
      expect(reasons.map((line) => String(line.error))).toContainEqual(expect.stringMatching(why));
      expect(text).not.toContain('c2VjcmV0c2VjcmV0');
      expect(text).not.toContain('MC4CAQAwBQYDK2VwBCIEIJ');
      expect(metricRecords(text).filter((record) => 'SigningKeyUnavailable' in record.metrics).length).toBeGreaterThanOrEqual(1);
    } finally {
      relay.secrets.setSecret(SIGNING_KEY_SECRET_ID, good);
      await relay.restart();
    }
  });

  it('signs from the next check once the secret is corrected, without a restart', async () => {
    relay.secrets.setSecret(SIGNING_KEY_SECRET_ID, '{"kty":"RSA"}');
    await relay.restart();
    expect((await relay.post(PHOTO.toString('base64'))).status).toBe(500);
    relay.secrets.setSecret(SIGNING_KEY_SECRET_ID, JSON.stringify(newPrivateJwk()));
    const answer = await relay.post(PHOTO.toString('base64'));
    expect(answer.status).toBe(200);
    expect(await verifyVerdict(answer.headers['x-liveness-signature'] ?? '', await jwks())).toMatchObject({ sub_code: 'SUCCESS' });
  });
});

describe('GET /.well-known/jwks.json', () => {
  it('publishes the current public key, cacheable, with no private part', async () => {
    const answer = await getJwks(await jwksFunction(relay.env()));
    expect(answer.status).toBe(200);
    expect(answer.headers['cache-control']).toBe('public, max-age=300');
    const { keys } = answer.body as { keys: Array<Record<string, unknown>> };
    expect(keys).toHaveLength(1);
    expect(Object.keys(keys[0] ?? {}).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
  });

  it('answers the same JWKS to a request with a body, a query and an odd Accept', async () => {
    const handler = await jwksFunction(relay.env());
    const plain = await getJwks(handler);
    const odd: Array<Parameters<typeof getJwks>[1]> = [
      { body: '{"keys": []}', headers: { 'Content-Type': 'application/json' } },
      { query: { kid: 'x', format: 'pem' } },
      { headers: { Accept: 'application/octet-stream' } },
      { headers: { Accept: 'text/html;q=0.9, */*;q=0.1' } },
    ];
    for (const request of odd) {
      const answer = await getJwks(handler, request);
      expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: plain.body });
    }
  });

  it('keeps a verdict signed before a rotation verifiable after it; the next key is published before it signs', async () => {
    const before = await relay.post(PHOTO.toString('base64'));
    const signedBefore = before.headers['x-liveness-signature'] ?? '';

    // docs/operating.md: stage the next key, wait until the JWKS lists it, then make it current.
    const next = JSON.stringify(newPrivateJwk());
    relay.secrets.stageSecret(SIGNING_KEY_SECRET_ID, next);
    const staged = await jwks();
    expect(staged.keys).toHaveLength(2);
    relay.secrets.promotePending(SIGNING_KEY_SECRET_ID);

    // A container started after the rotation signs with the new key; the JWKS lists both.
    await relay.restart();
    const after = await relay.post(PHOTO.toString('base64'));
    const published = await jwks();
    expect(published.keys.map((key) => key.kid)).toEqual([staged.keys[1]?.kid, staged.keys[0]?.kid]);
    expect(await verifyVerdict(signedBefore, published)).toMatchObject({ transaction_id: (before.body as { transaction_id: string }).transaction_id });
    expect(await verifyVerdict(after.headers['x-liveness-signature'] ?? '', published)).toMatchObject({ sub_code: 'SUCCESS' });
  });

  it('answers 500 INTERNAL_SERVER_ERROR, never a partial set, when the key cannot be loaded', async () => {
    const answer = await getJwks(await jwksFunction({ ...relay.env(), SIGNING_KEY_SECRET_ID: 'liveness-relay/missing/signing-key' }));
    expect(answer.status).toBe(500);
    expect(answer.body).toMatchObject({ code: 500, sub_code: 'INTERNAL_SERVER_ERROR' });
  });
});

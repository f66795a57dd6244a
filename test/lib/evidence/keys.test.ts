import { generateKeyPairSync, randomInt } from 'node:crypto';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { calculateJwkThumbprint, compactVerify, createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { newPrivateJwk, signingKeyOf } from '../../../lib/evidence/jwk.ts';
import { SecretsManagerSigningKeys, SigningKeyUnavailable } from '../../../lib/evidence/keys.ts';
import { verdictSigner, type VerdictClaims } from '../../../lib/evidence/verdict.ts';
import { RelayMetrics } from '../../../lib/platform/metrics.ts';
import { jsonLines, metricRecords } from '../../support/emf.ts';
import { captureOutput, type CapturedOutput } from '../../support/output.ts';
import { startSecretsManager, type SecretsManagerEndpoint } from '../../support/secrets-manager.ts';
import { verifyVerdict } from '../../support/verdicts.ts';

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const CLAIMS: VerdictClaims = {
  transaction_id: 'ae358a30-66d1-4371-af90-c59ac20aa388',
  sub_code: 'SUCCESS',
  is_live: true,
  score: null,
  image_sha256: 'f4455149f488f76205fdee5499ec5261d08ef6279a1cff7b778ea85405331e94',
  source: 'api',
  subject: null,
  replay: null,
  iat: 1_796_000_000,
};

/** A secret as the stack's GenerateSecretString writes it: 43 characters drawn from base64url's alphabet as "d", no "x". */
const generatedByTheStack = (): string =>
  JSON.stringify({ kty: 'OKP', crv: 'Ed25519', d: Array.from({ length: 43 }, () => BASE64URL[randomInt(64)]).join('') });

const jwksOf = (...keys: JWK[]) => ({ keys });

describe('the signing key a secret holds', () => {
  it('takes the stack’s first key, a seed without its public key, and derives the public key and an RFC 7638 kid', async () => {
    for (let index = 0; index < 20; index += 1) {
      const key = signingKeyOf(JSON.parse(generatedByTheStack()) as Record<string, unknown>);
      expect(key.publicJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', use: 'sig', alg: 'EdDSA', x: expect.stringMatching(/^[\w-]{43}$/) });
      expect(key.kid).toBe(await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: key.publicJwk.x }));
      // jose checks the signature with nothing but the published public key.
      const { payload } = await jwtVerify(verdictSigner(key).sign(CLAIMS), createLocalJWKSet(jwksOf(key.publicJwk)));
      expect(payload).toEqual(CLAIMS);
    }
  });

  it('takes a full private JWK, and the same key gives the same kid in every container', () => {
    const jwk = newPrivateJwk();
    expect(signingKeyOf({ ...jwk }).kid).toBe(signingKeyOf({ kty: jwk.kty, crv: jwk.crv, d: jwk.d }).kid);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['an RSA key', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), /Ed25519 private JWK .*"kty": "RSA"/],
    ['an EC key', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), /Ed25519 private JWK .*"kty": "EC"/],
    ['an X25519 key', generateKeyPairSync('x25519').privateKey.export({ format: 'jwk' }), /Ed25519 private JWK/],
    ['a public key only', generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }), /public key only/],
    ['a seed of the wrong length', { ...newPrivateJwk(), d: 'c2hvcnQ' }, /32-byte seed/],
    ['an "x" of another key', { ...newPrivateJwk(), x: newPrivateJwk().x }, /"x" is not the public key of its "d"/],
  ])('refuses %s, saying why without quoting it', (_, jwk, why) => {
    const refusal = (() => {
      try {
        signingKeyOf(jwk);
      } catch (error) {
        return (error as Error).message;
      }
      return 'accepted';
    })();
    expect(refusal).toMatch(why);
    for (const value of Object.values(jwk)) if (typeof value === 'string' && value.length > 8) expect(refusal).not.toContain(value);
  });
});

describe('a signed verdict', () => {
  const key = signingKeyOf({ ...newPrivateJwk() });
  const signature = verdictSigner(key).sign(CLAIMS);

  it('is a compact JWS, alg EdDSA, with the kid and the verdict type, over exactly the claims', async () => {
    expect(decodeProtectedHeader(signature)).toEqual({ alg: 'EdDSA', kid: key.kid, typ: 'liveness-verdict+jwt' });
    expect(await verifyVerdict(signature, jwksOf(key.publicJwk))).toEqual(CLAIMS);
  });

  it('fails verification once any claim is changed, or under another key', async () => {
    const [header, , proof] = signature.split('.');
    for (const change of [{ is_live: false }, { sub_code: 'FACE_NOT_DETECTED' }, { transaction_id: 'another' }, { image_sha256: null }, { iat: CLAIMS.iat + 1 }]) {
      const edited = `${header}.${Buffer.from(JSON.stringify({ ...CLAIMS, ...change })).toString('base64url')}.${proof}`;
      await expect(compactVerify(edited, createLocalJWKSet(jwksOf(key.publicJwk)))).rejects.toThrow(/signature verification failed/);
    }
    const other = signingKeyOf({ ...newPrivateJwk() });
    await expect(verifyVerdict(signature, jwksOf({ ...other.publicJwk, kid: key.kid }))).rejects.toThrow(/signature verification failed/);
  });
});

describe('SecretsManagerSigningKeys', () => {
  let SECRET_ID = '';
  let secretCount = 0;
  let secrets: SecretsManagerEndpoint;
  let client: SecretsManagerClient;
  let output: CapturedOutput;
  const metrics = new RelayMetrics({ namespace: 'LivenessRelayTest' });
  const keysOf = () => new SecretsManagerSigningKeys({ secretId: SECRET_ID, maxAgeSeconds: 3600, metrics, client });
  const kidOf = (secret: string) => signingKeyOf(JSON.parse(secret) as Record<string, unknown>).kid;

  beforeAll(async () => {
    secrets = await startSecretsManager({});
    client = new SecretsManagerClient({ endpoint: secrets.url, region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });
    output = captureOutput();
  });
  afterAll(async () => {
    output.restore();
    client.destroy();
    await secrets.close();
  });
  beforeEach(() => {
    output.clear();
    secrets.failNext(0);
    // A secret of its own for each test: versions do not carry over.
    SECRET_ID = `liveness-relay/test-${(secretCount += 1)}/signing-key`;
  });

  it('signs with AWSCURRENT, read once, and publishes it alone before any rotation', async () => {
    const first = generatedByTheStack();
    secrets.setSecret(SECRET_ID, first);
    const keys = keysOf();
    const before = secrets.getSecretValueCalls;
    const signer = await keys.signer();
    expect(signer.kid).toBe(kidOf(first));
    expect(await keys.signer()).toBe(signer);
    expect(secrets.getSecretValueCalls - before).toBe(1);
    expect((await keys.publicKeys()).map((key) => key.kid)).toEqual([kidOf(first)]);
  });

  it('after maxAge, signs with the key in hand while the new one loads: a check never waits for a refresh', async () => {
    const first = JSON.stringify(newPrivateJwk());
    secrets.setSecret(SECRET_ID, first);
    const keys = new SecretsManagerSigningKeys({ secretId: SECRET_ID, maxAgeSeconds: 1, metrics, client });
    expect((await keys.signer()).kid).toBe(kidOf(first));
    const next = JSON.stringify(newPrivateJwk());
    secrets.setSecret(SECRET_ID, next);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const before = secrets.getSecretValueCalls;
    expect((await keys.signer()).kid).toBe(kidOf(first));
    await expect.poll(async () => (await keys.signer()).kid).toBe(kidOf(next));
    expect(secrets.getSecretValueCalls - before).toBe(1);
  });

  it('keeps a verdict signed before a rotation verifiable with the keys published after it', async () => {
    const before = generatedByTheStack();
    secrets.setSecret(SECRET_ID, before);
    const old = (await keysOf().signer()).sign(CLAIMS);

    // The documented rotation: the next key is staged and published first, then made current.
    const next = JSON.stringify(newPrivateJwk());
    secrets.stageSecret(SECRET_ID, next);
    expect((await keysOf().publicKeys()).map((key) => key.kid)).toEqual([kidOf(before), kidOf(next)]);
    expect((await keysOf().signer()).kid).toBe(kidOf(before));
    secrets.promotePending(SECRET_ID);

    const after = keysOf();
    const published = jwksOf(...(await after.publicKeys()));
    expect(published.keys.map((key) => key.kid)).toEqual([kidOf(next), kidOf(before)]);
    expect(await verifyVerdict(old, published)).toEqual(CLAIMS);
    expect(await verifyVerdict((await after.signer()).sign(CLAIMS), published)).toEqual(CLAIMS);
  });

  it.each([
    ['not JSON', '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----'],
    ['an RSA key', JSON.stringify(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }))],
    ['a public key only', JSON.stringify(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }))],
  ])('refuses a secret that is %s: SigningKeyUnavailable, a log line saying why without the key, the metric the alarm watches', async (_, value) => {
    secrets.setSecret(SECRET_ID, value);
    const keys = keysOf();
    await expect(keys.signer()).rejects.toBeInstanceOf(SigningKeyUnavailable);
    await expect(keys.publicKeys()).rejects.toBeInstanceOf(SigningKeyUnavailable);

    const text = output.text();
    const [line] = jsonLines(text).filter((entry) => entry.level === 'ERROR');
    expect(line?.message).toBe('the signing key cannot be loaded: verdicts cannot be signed, so checks are refused before any upstream call');
    expect(String(line?.error)).toMatch(/not JSON|Ed25519 private JWK|public key only/);
    for (const part of value.split(/[",:{}\n]/).filter((piece) => piece.length > 20)) expect(text).not.toContain(part);
    expect(metricRecords(text).filter((record) => 'SigningKeyUnavailable' in record.metrics)).toHaveLength(2);

    // Corrected in Secrets Manager, it is picked up by the next check: no restart needed.
    const fixed = JSON.stringify(newPrivateJwk());
    secrets.setSecret(SECRET_ID, fixed);
    expect((await keys.signer()).kid).toBe(kidOf(fixed));
    // The refused version is now AWSPREVIOUS: no verdict was signed with it, so it is left out, not fatal.
    expect((await keys.publicKeys()).map((key) => key.kid)).toEqual([kidOf(fixed)]);
  });

  it('never publishes a partial set: a stage that cannot be read fails the JWKS', async () => {
    secrets.setSecret(SECRET_ID, JSON.stringify(newPrivateJwk()));
    const keys = keysOf();
    await keys.signer();
    secrets.failNext(2);
    await expect(keys.publicKeys()).rejects.toBeInstanceOf(SigningKeyUnavailable);
  });
});

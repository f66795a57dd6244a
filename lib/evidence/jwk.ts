import { Buffer } from 'node:buffer';
import { createHash, createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

/** A public key as `GET /.well-known/jwks.json` lists it (RFC 8037), named by its RFC 7638 thumbprint. */
export interface PublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  use: 'sig';
  alg: 'EdDSA';
}

/** An Ed25519 private key as a JWK (RFC 8037), the form the signing key's secret holds. */
export interface PrivateJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  d: string;
  x: string;
}

/** A key that signs verdicts, with its public half. */
export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicJwk: PublicJwk;
}

/** An Ed25519 seed (`d`) is 32 bytes: 43 base64url characters, without padding. */
const SEED = /^[A-Za-z0-9_-]{43}$/;

/**
 * RFC 8410's PKCS #8 encoding of an Ed25519 private key is this fixed prefix and the 32-byte seed.
 * Node reads a private JWK only with its `x`, which the stack's first key lacks (CloudFormation
 * can generate random text, not derive a public key): the seed goes in this way instead, and the
 * public key comes out of it.
 */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * The signing key a secret holds: a JSON object `{"kty": "OKP", "crv": "Ed25519", "d": "<seed>"}`,
 * with `x` optional (checked against `d` when present). Anything else is refused with a message
 * that names what is wrong and never quotes the key: an RSA or EC key, a public key alone, a
 * seed of the wrong length.
 */
export function signingKeyOf(jwk: Record<string, unknown>): SigningKey {
  const { kty, crv, d, x } = jwk;
  if (kty !== 'OKP' || crv !== 'Ed25519') {
    const found = typeof kty === 'string' && /^[A-Za-z]{1,8}$/.test(kty) ? `a JWK with "kty": "${kty}"` : 'a JWK of another kind';
    throw new Error(`the signing key must be an Ed25519 private JWK ("kty": "OKP", "crv": "Ed25519"), not ${found}`);
  }
  if (d === undefined) throw new Error('the signing key is a public key only: its JWK has no private part "d"');
  if (typeof d !== 'string' || !SEED.test(d)) throw new Error('the signing key\'s "d" must be a 32-byte seed in base64url (43 characters)');
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, Buffer.from(d, 'base64url')]), format: 'der', type: 'pkcs8' });
  const { x: publicX } = privateKey.export({ format: 'jwk' });
  if (typeof publicX !== 'string') throw new Error('the signing key has no Ed25519 public key');
  if (x !== undefined && x !== publicX) throw new Error('the signing key\'s "x" is not the public key of its "d"');
  const kid = thumbprint(publicX);
  return { kid, privateKey, publicJwk: { kty: 'OKP', crv: 'Ed25519', x: publicX, kid, use: 'sig', alg: 'EdDSA' } };
}

/** A new Ed25519 private JWK from Node's CSPRNG: a local run's key, or the next key of a rotation. */
export function newPrivateJwk(): PrivateJwk {
  const { d, x } = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  if (typeof d !== 'string' || typeof x !== 'string') throw new Error('Node exported an Ed25519 key without "d" or "x"');
  return { kty: 'OKP', crv: 'Ed25519', d, x };
}

/**
 * RFC 7638's thumbprint of an Ed25519 public key: SHA-256 of its required members in
 * lexicographic order, without whitespace. Every container derives the same `kid` from the same
 * key, and anyone can recompute it from the JWKS.
 */
function thumbprint(x: string): string {
  return createHash('sha256').update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x })).digest('base64url');
}

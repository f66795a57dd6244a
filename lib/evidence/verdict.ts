import { Buffer } from 'node:buffer';
import { sign } from 'node:crypto';
import type { SigningKey } from './jwk.ts';

/** Which path a verdict came from: `POST /v1/liveness-check`, an uploaded object, or a liveness session's upload. */
export type VerdictSource = 'api' | 's3' | 'session';

/**
 * What a verdict is about: nothing more for an API check (the caller holds its answer); the
 * object key of an upload; for a session, its reference (base64url SHA-256 of the session id),
 * because the relay never holds the id itself (lib/sessions/session.ts, sessionRef).
 */
export type VerdictSubject = { source: 'api'; subject: null } | { source: 's3' | 'session'; subject: string };

/** The claims of a signed verdict, exactly these, in this order. */
export interface VerdictClaims {
  transaction_id: string | null;
  sub_code: string;
  is_live: boolean | null;
  score: number | null;
  /** Lowercase hex SHA-256 of the image's decoded bytes; null for an image URL, which the relay never fetches. */
  image_sha256: string | null;
  source: VerdictSource;
  subject: string | null;
  replay: 'exact' | 'similar' | null;
  /** Seconds since the epoch, when the verdict was signed. */
  iat: number;
}

/** The `typ` of a verdict's JWS (RFC 8725, 3.11): a verifier that asks for it never mistakes another JWT of ours for a verdict. */
export const VERDICT_TYPE = 'liveness-verdict+jwt';

/** Signs verdicts with one key. */
export interface VerdictSigner {
  readonly kid: string;
  /** The compact JWS of `claims`. */
  sign(claims: VerdictClaims): string;
}

/**
 * Compact JWS (RFC 7515) with `alg` EdDSA (RFC 8037) over Node's built-in Ed25519. Written here,
 * not with a JOSE library: a compact JWS is three base64url parts and one `crypto.sign`, and the
 * functions' bundles stay as they are. Verification is left to such a library (the tests and the
 * docs use `jose`), so that this code is never its own judge.
 */
export function verdictSigner(key: SigningKey): VerdictSigner {
  const header = Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: key.kid, typ: VERDICT_TYPE })).toString('base64url');
  return {
    kid: key.kid,
    sign: (claims) => {
      const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      return `${input}.${sign(null, Buffer.from(input), key.privateKey).toString('base64url')}`;
    },
  };
}

import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { callApi, loadFunction, restEvent, type HttpAnswer, type RestHandler, type RestRequest } from './lambda.ts';

/** The claims a verdict's signature carries, as `jose` verified them. */
export interface VerifiedClaims {
  transaction_id: string | null;
  sub_code: string;
  is_live: boolean | null;
  score: number | null;
  image_sha256: string | null;
  source: 'api' | 's3' | 'session';
  subject: string | null;
  replay: 'exact' | 'similar' | null;
  iat: number;
}

/** `functions/jwks.ts` loaded as a container of the deployment whose environment is `env`. */
export async function jwksFunction(env: Record<string, string | undefined>): Promise<RestHandler> {
  return loadFunction('jwks', { ...env, AWS_LAMBDA_FUNCTION_NAME: 'jwks' });
}

/** `GET /.well-known/jwks.json` of the JWKS function, as API Gateway would call it. */
export function getJwks(jwks: RestHandler, request: Partial<RestRequest> & { query?: Record<string, string> } = {}): Promise<HttpAnswer> {
  const event = restEvent('GET', '/.well-known/jwks.json', { body: null, headers: {}, ...request });
  if (request.query !== undefined) {
    event.queryStringParameters = request.query;
    event.multiValueQueryStringParameters = Object.fromEntries(Object.entries(request.query).map(([key, value]) => [key, [value]]));
  }
  return callApi(jwks, event, 10_000);
}

/** What `GET /.well-known/jwks.json` answers, asserting a 200. */
export async function publishedKeys(jwks: RestHandler): Promise<JSONWebKeySet> {
  const answer = await getJwks(jwks);
  if (answer.status !== 200) throw new Error(`the JWKS route answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body as JSONWebKeySet;
}

/**
 * Verifies a verdict's compact JWS with `jose` against `keys`, as a customer would: EdDSA only, the
 * verdict's `typ`. Rejects when the signature, the key or a claim does not hold.
 */
export async function verifyVerdict(signature: string, keys: JSONWebKeySet): Promise<VerifiedClaims> {
  const { payload, protectedHeader } = await jwtVerify(signature, createLocalJWKSet(keys), { algorithms: ['EdDSA'], typ: 'liveness-verdict+jwt' });
  if (typeof protectedHeader.kid !== 'string') throw new Error('the verdict names no kid');
  return payload as unknown as VerifiedClaims;
}

import type { APIGatewayProxyEvent } from 'aws-lambda';

// The header alone, apart from lib/idempotent-requests.ts: every request is read for it, while
// Powertools Idempotency is loaded only by the requests that carry one.

/** The longest Idempotency-Key accepted, in characters. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * The `Idempotency-Key` header of a request (headers already normalized to lower case):
 * undefined when absent; refused when empty, longer than 255 characters, holding a control
 * character, or sent twice.
 */
export function readIdempotencyKey(
  event: Pick<APIGatewayProxyEvent, 'headers' | 'multiValueHeaders'>,
): { ok: true; key: string | undefined } | { ok: false; message: string } {
  const values = event.multiValueHeaders?.['idempotency-key'];
  if (values !== undefined && values.length > 1) return { ok: false, message: 'send one Idempotency-Key header, not several' };
  const key = event.headers?.['idempotency-key'] ?? values?.[0];
  if (key === undefined) return { ok: true, key: undefined };
  if (key === '') return { ok: false, message: 'Idempotency-Key must not be empty' };
  if ([...key].length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    return { ok: false, message: `Idempotency-Key must be at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters` };
  }
  if (CONTROL_CHARACTERS.test(key)) return { ok: false, message: 'Idempotency-Key must not contain control characters' };
  return { ok: true, key };
}

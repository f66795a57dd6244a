import { randomUUID } from 'node:crypto';

/**
 * An answer in the envelope shape: any JSON object with a string `sub_code`. Deepvue documents
 * `code`, `timestamp` (null in every example), `transaction_id`, `message` and, on a SUCCESS,
 * `data: {is_live, score}` (score null); what really arrives may lack any of them, hold null, or
 * carry more, and is relayed as it came. Read fields through the helpers below, never by shape.
 */
export type Envelope = { sub_code: string } & Record<string, unknown>;

/** The sub_codes the relay answers with itself, and the HTTP status each one carries. */
export const RELAY_STATUS = {
  INVALID_REQUEST: 422,
  INVALID_BASE64_STRING: 422,
  INVALID_URL: 422,
  UNSUPPORTED_IMAGE_FORMAT: 422,
  PAYLOAD_TOO_LARGE: 413,
  UPSTREAM_AUTH_FAILED: 502,
  RATE_LIMITED: 429,
  UPSTREAM_UNAVAILABLE: 503,
  UPSTREAM_ERROR: 502,
  UPSTREAM_TIMEOUT: 504,
  INTERNAL_SERVER_ERROR: 500,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  IDEMPOTENCY_KEY_REUSED: 422,
  IDEMPOTENCY_IN_PROGRESS: 409,
  // Liveness sessions: the session's upload window has passed, or it already received its image.
  SESSION_EXPIRED: 410,
  SESSION_USED: 409,
  // An erasure stopped part way (storage failing): what it erased stays erased, and a repeat completes it.
  ERASURE_INCOMPLETE: 503,
  // The opt-in pre-screen (PRESCREEN=on): no face is answered as Deepvue answers it; the others are the relay's.
  FACE_NOT_DETECTED: 200,
  MULTIPLE_FACES: 422,
  FACE_TOO_SMALL: 422,
} as const;

export type RelaySubCode = keyof typeof RELAY_STATUS;

/** An answer the relay makes itself: every field present, `timestamp` in epoch milliseconds. */
export type RelayEnvelope = {
  code: number;
  timestamp: number;
  transaction_id: string;
  sub_code: RelaySubCode;
  message: string;
};

export function relayEnvelope(subCode: RelaySubCode, message: string): RelayEnvelope {
  return {
    code: RELAY_STATUS[subCode],
    timestamp: Date.now(),
    transaction_id: randomUUID(),
    sub_code: subCode,
    message,
  };
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * An upstream envelope is any JSON object with a string `sub_code`; every other field is
 * Deepvue's business (the contract's rule: accept liberally, relay as sent). Anything else is
 * not an envelope, and the relay answers for it.
 */
export function parseUpstreamEnvelope(value: unknown): Envelope | undefined {
  return isRecord(value) && typeof value.sub_code === 'string' ? (value as Envelope) : undefined;
}

/** `is_live` of a SUCCESS envelope, or undefined when the upstream gave no boolean verdict. */
export function verdictOf(envelope: Envelope): boolean | undefined {
  const isLive = envelope.sub_code === 'SUCCESS' && isRecord(envelope.data) ? envelope.data.is_live : undefined;
  return typeof isLive === 'boolean' ? isLive : undefined;
}

/** The envelope's `message` when it is text, for logs and errors; empty otherwise. */
export function messageOf(envelope: Envelope): string {
  return typeof envelope.message === 'string' ? envelope.message : '';
}

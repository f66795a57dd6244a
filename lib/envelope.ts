import { randomUUID } from 'node:crypto';

/** The envelope Deepvue answers with, and the one the relay uses for its own answers. */
export interface Envelope {
  code: number;
  timestamp: number | string;
  transaction_id: string;
  sub_code: string;
  message: string;
  data?: { is_live: boolean; score: number | null } | Record<string, unknown>;
}

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
  IDEMPOTENCY_KEY_REUSED: 422,
  IDEMPOTENCY_IN_PROGRESS: 409,
} as const;

export type RelaySubCode = keyof typeof RELAY_STATUS;

export function relayEnvelope(subCode: RelaySubCode, message: string): Envelope {
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
 * Accepts only the envelope shape Deepvue documents; anything else is an upstream fault.
 * A SUCCESS must carry `data.is_live` (boolean) and `data.score` (number or null).
 */
export function parseUpstreamEnvelope(value: unknown): Envelope | undefined {
  if (!isRecord(value)) return undefined;
  const { code, timestamp, transaction_id: transactionId, sub_code: subCode, message, data } = value;
  if (typeof subCode !== 'string' || subCode === '' || typeof message !== 'string') return undefined;
  if (typeof code !== 'number' || typeof transactionId !== 'string') return undefined;
  if (typeof timestamp !== 'number' && typeof timestamp !== 'string') return undefined;
  if (data !== undefined && data !== null && !isRecord(data)) return undefined;
  if (subCode === 'SUCCESS') {
    if (!isRecord(data) || typeof data.is_live !== 'boolean') return undefined;
    if (data.score !== null && typeof data.score !== 'number') return undefined;
  }
  return value as unknown as Envelope;
}

/** `is_live` of a SUCCESS envelope, or undefined when the upstream gave no verdict. */
export function verdictOf(envelope: Envelope): boolean | undefined {
  const isLive = envelope.sub_code === 'SUCCESS' && isRecord(envelope.data) ? envelope.data.is_live : undefined;
  return typeof isLive === 'boolean' ? isLive : undefined;
}

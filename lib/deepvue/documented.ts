import { randomUUID } from 'node:crypto';

/** One answer of `POST /v1/liveness-check` as Deepvue's documentation shows it, with its HTTP status. */
export interface DocumentedAnswer {
  status: number;
  body: Readonly<Record<string, unknown>>;
}

/**
 * Every response body Deepvue documents for `POST /v1/liveness-check`, exactly as its
 * documentation page prints it, keyed by the name of its copy in `test/fixtures/deepvue/` (a test
 * holds the two equal). The sandbox answers with these bodies so that local runs and tests meet
 * what a deployment meets: `"timestamp": null` in every envelope, `"score": null` in a SUCCESS,
 * no `data` outside a SUCCESS, and bare `{"detail"}` bodies for refused credentials.
 */
export const DOCUMENTED_ANSWERS = {
  'liveness-success': {
    status: 200,
    body: {
      code: 200,
      timestamp: null,
      transaction_id: 'string',
      sub_code: 'SUCCESS',
      message: 'Request processed successfully',
      data: { is_live: true, score: null },
    },
  },
  'liveness-face-not-detected': {
    status: 200,
    body: { code: 200, timestamp: null, transaction_id: 'string', sub_code: 'FACE_NOT_DETECTED', message: 'Face Not Detected' },
  },
  'liveness-invalid-url': {
    status: 422,
    body: { code: 422, timestamp: null, transaction_id: 'string', sub_code: 'INVALID_URL', message: 'Invalid URL' },
  },
  'liveness-invalid-base64': {
    status: 422,
    body: { code: 422, timestamp: null, transaction_id: 'string', sub_code: 'INVALID_BASE64_STRING', message: 'Invalid base64 string' },
  },
  'liveness-internal-server-error': {
    status: 500,
    body: { code: 500, timestamp: null, transaction_id: 'string', sub_code: 'INTERNAL_SERVER_ERROR', message: 'Internal Server Error' },
  },
  'detail-inactive-client': { status: 400, body: { detail: 'Inactive client_id' } },
  'detail-not-authenticated': { status: 401, body: { detail: 'Not authenticated' } },
  'detail-not-a-valid-token': { status: 401, body: { detail: 'Not a valid token' } },
} as const satisfies Record<string, DocumentedAnswer>;

export type DocumentedAnswerName = keyof typeof DOCUMENTED_ANSWERS;

/**
 * A documented body as one real answer would carry it: an envelope gets a fresh
 * `transaction_id` (the documentation shows the placeholder `"string"`), everything else stays as
 * documented, `timestamp` null included. `changes` replace top-level fields, for the one answer
 * the page shows only one way (a SUCCESS with `is_live: false`).
 *
 * @example
 * const spoof = documentedBody('liveness-success', { data: { is_live: false, score: null } });
 */
export function documentedBody(name: DocumentedAnswerName, changes: Record<string, unknown> = {}): Record<string, unknown> {
  const body: Record<string, unknown> = structuredClone(DOCUMENTED_ANSWERS[name].body);
  if ('transaction_id' in body) body.transaction_id = randomUUID();
  return { ...body, ...changes };
}

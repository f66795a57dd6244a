import type { APIGatewayProxyEvent } from 'aws-lambda';
import { relayEnvelope } from '../platform/envelope.ts';
import type { LivenessSessions, SessionAnswer } from './routes.ts';

/** The path of the capture page, beside the API's routes (see serverless.yml). */
export const CAPTURE_PAGE_PATH = '/capture';

/**
 * Which of the session routes API Gateway invoked, by its resource template (stable whatever
 * stage or custom-domain base path the request came through), and its answer.
 */
export async function answerSessionRoute(
  event: APIGatewayProxyEvent,
  sessions: LivenessSessions,
  capturePageUrl: string | undefined,
): Promise<SessionAnswer> {
  const id = event.pathParameters?.id;
  switch (`${event.httpMethod} ${event.resource}`) {
    case 'POST /v1/liveness-sessions': {
      const body = jsonBody(event);
      return body.ok ? sessions.open(body.value, capturePageUrl ?? capturePageOf(event)) : body.answer;
    }
    case 'GET /v1/liveness-sessions/{id}':
      return sessions.describe(id);
    case 'POST /v1/liveness-sessions/{id}/upload': {
      const body = jsonBody(event);
      return body.ok ? sessions.upload(id, body.value) : body.answer;
    }
    case 'GET /v1/liveness-sessions/{id}/progress':
      return sessions.progress(id);
    default:
      return { status: 404, body: relayEnvelope('NOT_FOUND', 'no such route') };
  }
}

/** An optional JSON body: none at all reads as `{}`. */
function jsonBody(event: APIGatewayProxyEvent): { ok: true; value: unknown } | { ok: false; answer: SessionAnswer } {
  const raw = event.isBase64Encoded && event.body !== null ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  if (raw === null || raw.trim() === '') return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(raw) as unknown };
  } catch {
    return { ok: false, answer: { status: 422, body: relayEnvelope('INVALID_REQUEST', 'the body must be valid JSON') } };
  }
}

/**
 * The capture page of the API this request reached: its scheme and host, the stage when the host
 * is API Gateway's own (`<api-id>.execute-api.<region>.amazonaws.com/<stage>/...`; a custom
 * domain mapped at its root and `npm start` have none), then /capture. A custom domain with a base
 * path sets CAPTURE_PAGE_URL instead.
 */
export function capturePageOf(event: APIGatewayProxyEvent): string {
  const headers = Object.fromEntries(Object.entries(event.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]));
  const scheme = headers['x-forwarded-proto'] === 'https' ? 'https' : 'http';
  const origin = new URL(`${scheme}://${headers.host ?? 'localhost'}`);
  const stage = EXECUTE_API_HOST.test(origin.hostname) ? `/${event.requestContext.stage}` : '';
  return `${origin.origin}${stage}${CAPTURE_PAGE_PATH}`;
}

const EXECUTE_API_HOST = /\.execute-api\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/i;

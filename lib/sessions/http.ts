import type { APIGatewayEventRequestContext, APIGatewayProxyEvent } from 'aws-lambda';
import { relayEnvelope } from '../platform/envelope.ts';
import type { LivenessSessions, SessionAnswer } from './routes.ts';

/** The path of the capture page, beside the API's routes (see serverless.yml). */
export const CAPTURE_PAGE_PATH = '/capture';

/**
 * Which of the session routes API Gateway invoked, by its resource template (stable whatever
 * stage or custom-domain base path the request came through), and its answer. `capturePage.url`
 * is CAPTURE_PAGE_URL; unset, capture_url is the /capture page of the API that invoked the
 * function, in `capturePage.region` (the function's).
 */
export async function answerSessionRoute(
  event: APIGatewayProxyEvent,
  sessions: LivenessSessions,
  capturePage: { url: string | undefined; region: string },
): Promise<SessionAnswer> {
  const id = event.pathParameters?.id;
  switch (`${event.httpMethod} ${event.resource}`) {
    case 'POST /v1/liveness-sessions': {
      const body = jsonBody(event);
      return body.ok ? sessions.open(body.value, capturePage.url ?? executeApiCapturePage(event.requestContext, capturePage.region)) : body.answer;
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

const API_ID = /^[a-z0-9]{1,32}$/;
const STAGE = /^[A-Za-z0-9_-]{1,128}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/**
 * The capture page of the API that invoked the function, on API Gateway's own domain
 * (`https://<api-id>.execute-api.<region>.amazonaws.com/<stage>/capture`), built only from what
 * no caller can set: the API's id and stage, which API Gateway writes into the request context,
 * and the function's region. Never from the request's headers: `Host` and `X-Forwarded-Proto`
 * are written by the caller (what reaches the function depends on every hop in front of it), and
 * a capture page where a user's selfie is taken must not be a page the caller named. A custom
 * domain (or a partition other than aws and aws-cn) sets CAPTURE_PAGE_URL instead.
 */
export function executeApiCapturePage(context: Pick<APIGatewayEventRequestContext, 'apiId' | 'stage'>, region: string): string {
  if (!API_ID.test(context.apiId) || !STAGE.test(context.stage) || !REGION.test(region)) {
    throw new Error(`no capture page for API "${context.apiId}", stage "${context.stage}" in region "${region}": set CAPTURE_PAGE_URL`);
  }
  const domain = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  return `https://${context.apiId}.execute-api.${region}.${domain}/${context.stage}${CAPTURE_PAGE_PATH}`;
}

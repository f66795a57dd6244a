import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';

// Kept apart from lib/http/middleware.ts, whose check middleware imports the whole check path
// (undici, the Secrets Manager client, file-type): livenessResult needs only these two and
// bundles none of that.

/** The id that ties a response to its logs: API Gateway's request id, else the invocation's. */
export function requestIdOf(event: Partial<APIGatewayProxyEvent>, context: Pick<Context, 'awsRequestId'>): string {
  return event.requestContext?.requestId ?? context.awsRequestId;
}

/** A JSON response with the headers every answer of the relay carries. */
export function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string>,
): APIGatewayProxyResult {
  return { statusCode: status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

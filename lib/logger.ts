import { Logger } from '@aws-lambda-powertools/logger';

/**
 * The one structured JSON logger of a container. Callers log ids, sub_codes and timings; never
 * an image, a token, the client secret or raw request headers.
 */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'liveness-relay' });

/** The error's class and message only: SDK and HTTP errors may carry the request, never worth logging. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

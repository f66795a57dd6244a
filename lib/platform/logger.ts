import { LogFormatter, Logger, LogItem } from '@aws-lambda-powertools/logger';
import type { LogAttributes, UnformattedAttributes } from '@aws-lambda-powertools/logger/types';

/**
 * Members never written, at any depth of a log line, whatever logged them. A Lambda event, an
 * HTTP request or response, an SDK error's `$response` or middy's body-parser error (the raw body
 * in `cause.data`) carry the image, the caller's API key, the Deepvue token or the client secret.
 */
const SECRET_MEMBERS = new Set([
  'event',
  'body',
  'data',
  'image',
  'headers',
  'multivalueheaders',
  'authorization',
  'x-api-key',
  'apikey',
  'token',
  'access_token',
  'accesstoken',
  'client_secret',
  'clientsecret',
  'secretstring',
  '$response',
  '$request',
]);

/** Secrets that can hide inside free text, such as an error message quoting a request. */
const SECRET_TEXT: Array<[RegExp, string]> = [
  [/\bBearer\s+\S+/gi, 'Bearer [redacted]'],
  // A JWT: Deepvue's access tokens.
  [/\beyJ[\w-]*\.[\w-]+\.[\w-]*/g, '[redacted token]'],
  // A run no message, id or stack trace holds: image bytes in base64.
  [/[A-Za-z0-9+/_-]{200,}={0,2}/g, '[redacted base64]'],
];

/**
 * Runs on every member of every log line (Powertools' jsonReplacerFn). Call sites already log
 * only ids, sub_codes, timings and `describeError`; this keeps a later
 * `logger.error(message, { error })` from writing what a dependency attached to its error.
 */
function redact(key: string, value: unknown): unknown {
  if (SECRET_MEMBERS.has(key.toLowerCase()) && value !== undefined && value !== null) return '[redacted]';
  if (typeof value !== 'string') return value;
  return SECRET_TEXT.reduce((text, [pattern, replacement]) => text.replace(pattern, replacement), value);
}

/**
 * Powertools' line, without the members every line of a log group repeats: the function's ARN and
 * memory size (the log group and Lambda's REPORT line say them) and a sampling rate of 0. CloudWatch
 * Logs bills each line's bytes: about 140 fewer per line (bench/results.md, cost per 1,000 checks).
 * The function's name stays, for queries over several log groups and for `npm start`, where every
 * function writes to one terminal.
 */
class RelayLogFormatter extends LogFormatter {
  formatAttributes(attributes: UnformattedAttributes, additionalLogAttributes: LogAttributes): LogItem {
    const context = attributes.lambdaContext;
    return new LogItem({
      attributes: {
        level: attributes.logLevel,
        message: attributes.message,
        timestamp: this.formatTimestamp(attributes.timestamp),
        service: attributes.serviceName,
        cold_start: context?.coldStart,
        function_name: context?.functionName,
        function_request_id: context?.awsRequestId,
        // Written when POWERTOOLS_LOGGER_SAMPLE_RATE is set (undefined members are left out).
        sampling_rate: attributes.sampleRateValue === 0 ? undefined : attributes.sampleRateValue,
        xray_trace_id: attributes.xRayTraceId,
        tenant_id: context?.tenantId,
      },
    }).addAttributes(additionalLogAttributes);
  }
}

/**
 * The one structured JSON logger of a container. Callers log ids, sub_codes and timings; never
 * an image, a token, the client secret or raw request headers.
 */
export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'liveness-relay',
  jsonReplacerFn: redact,
  logFormatter: new RelayLogFormatter(),
});

/** The error's class and message only: SDK and HTTP errors may carry the request, never worth logging. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

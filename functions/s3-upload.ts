import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { S3Event, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { readConfig } from '../lib/container/config.ts';
import type { CompletionPublisher } from '../lib/uploads/events.ts';
import { firstUse } from '../lib/platform/lazy.ts';
import { logger } from '../lib/platform/logger.ts';
import { RelayMetrics } from '../lib/platform/metrics.ts';
import { createCheckDeps } from '../lib/container/check-deps.ts';
import type { UploadQueue } from '../lib/uploads/queue.ts';
import { UploadChecker } from '../lib/uploads/checker.ts';

const config = readConfig();
const { eventBusName } = config;
const metrics = new RelayMetrics({ namespace: config.metricsNamespace });
// One upstream attempt per receive: the queue retries, so no retry loop burns the function's time.
// Uploads use the plan's capacity only when API checks leave it.
const check = createCheckDeps({ config, metrics, retry: { maxAttempts: 1 }, priority: 'upload' });
// Awaited by every check; this only keeps a failed start from being reported as unhandled.
check.catch(() => undefined);

// Loaded at their first use, once, not at start: Powertools Batch with the first queue message,
// EventBridge with the first completion event, SQS with the first upload that must wait (and in
// the checker, the S3 client and Powertools Idempotency with the first upload).
const publisher = eventBusName === undefined
  ? undefined
  : firstUse(async () => new (await import('../lib/uploads/events.ts')).EventBridgePublisher({ eventBusName }));
const events: CompletionPublisher | undefined = publisher && { publish: async (detail) => (await publisher()).publish(detail) };
const sqs = firstUse(async () => new (await import('../lib/uploads/queue.ts')).SqsUploadQueue());
const queue: UploadQueue = { defer: async (record, delayMs) => (await sqs()).defer(record, delayMs) };
const checker = new UploadChecker({ config, check, metrics, events, queue });
const batch = firstUse(async () => {
  const { BatchProcessor, EventType, processPartialResponse } = await import('@aws-lambda-powertools/batch');
  return { processor: new BatchProcessor(EventType.SQS), processPartialResponse };
});

const isSqsEvent = (event: SQSEvent | S3Event): event is SQSEvent => event.Records[0]?.eventSource === 'aws:sqs';

/**
 * Uploaded images: S3 ObjectCreated notifications through the upload queue (failed messages
 * reported as batch item failures), or plain S3 events (a failure throws, so Lambda retries).
 */
export const handler = middy<SQSEvent | S3Event, SQSBatchResponse | undefined>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async (event, context) => {
    if (!isSqsEvent(event)) {
      await checker.checkS3Event(event, context);
      return undefined;
    }
    const { processor, processPartialResponse } = await batch();
    return processPartialResponse(event, (record: SQSRecord) => checker.checkSqsRecord(record, context), processor, {
      context,
      // In order, one image at a time: the upstream plan's rate limit is shared by the batch.
      processInParallel: false,
      // Every message failing (an upstream outage) is still a partial answer, not a crash.
      throwOnFullBatchFailure: false,
    });
  });

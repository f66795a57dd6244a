import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { S3Event, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { readConfig } from '../lib/config.ts';
import { EventBridgePublisher } from '../lib/events.ts';
import { logger } from '../lib/logger.ts';
import { RelayMetrics } from '../lib/metrics.ts';
import { createCheckDeps } from '../lib/relay.ts';
import { SqsUploadQueue } from '../lib/upload-queue.ts';
import { UploadChecker } from '../lib/uploads.ts';

const config = readConfig();
const metrics = new RelayMetrics({ namespace: config.metricsNamespace });
// One upstream attempt per receive: the queue retries, so no retry loop burns the function's time.
// Uploads use the plan's capacity only when API checks leave it.
const check = createCheckDeps({ config, metrics, retry: { maxAttempts: 1 }, priority: 'upload' });
// Awaited by every check; this only keeps a failed start from being reported as unhandled.
check.catch(() => undefined);
const checker = new UploadChecker({
  config,
  check,
  metrics,
  s3: new S3Client({}),
  dynamo: new DynamoDBClient({}),
  events: config.eventBusName === undefined
    ? undefined
    : new EventBridgePublisher({ client: new EventBridgeClient({}), eventBusName: config.eventBusName }),
  // The queue URL comes from each message's event source ARN; AWS_ENDPOINT_URL_SQS still applies.
  // Short timeouts: a queue that cannot take a copy back makes the upload a counted retry instead.
  queue: new SqsUploadQueue({
    client: new SQSClient({
      useQueueUrlAsEndpoint: false,
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 1000, requestTimeout: 2000 },
    }),
  }),
});
const processor = new BatchProcessor(EventType.SQS);

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
    return processPartialResponse(event, (record: SQSRecord) => checker.checkSqsRecord(record, context), processor, {
      context,
      // In order, one image at a time: the upstream plan's rate limit is shared by the batch.
      processInParallel: false,
      // Every message failing (an upstream outage) is still a partial answer, not a crash.
      throwOnFullBatchFailure: false,
    });
  });

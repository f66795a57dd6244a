import { ChangeMessageVisibilityCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { describeError, logger } from '../platform/logger.ts';

/** SQS delays a message at most 15 minutes; a longer wait is served in several turns. */
export const MAX_DELAY_SECONDS = 900;

/** Sends an upload's message back to its queue for a later turn. */
export interface UploadQueue {
  /**
   * Puts the message back to be received again in `delayMs`. `requeued`: a copy was queued, so
   * the received message is done (reported as a success; the copy counts its receives afresh).
   * `kept`: the copy could not be queued; the received message is hidden for the delay instead
   * and must be reported as a failure, which SQS counts as a receive.
   */
  defer(record: SQSRecord, delayMs: number): Promise<'requeued' | 'kept'>;
}

/** The URL of the queue an event source ARN names (`arn:<partition>:sqs:<region>:<account>:<name>`). */
export function queueUrlOf(arn: string): string {
  const [, partition, , region, account, name] = arn.split(':');
  if (region === undefined || account === undefined || name === undefined) throw new Error(`not an SQS queue ARN: ${arn}`);
  const domain = partition === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com';
  return `https://sqs.${region}.${domain}/${account}/${name}`;
}

/**
 * The upload queue, for waiting without failing. An image that must wait (the plan's limit is
 * reached, or its invocation has too little time left) is not counted as a failed receive:
 * SQS counts every receive of a message towards its dead-letter queue, however it ended, so
 * waiting in place (ChangeMessageVisibility) would dead-letter an upload that only waited. A copy
 * of the message, delayed by the wait, replaces it instead; ChangeMessageVisibility is the
 * fallback when the copy cannot be sent. A crash between the two leaves two messages for one
 * upload, which the upload's idempotency claim makes harmless.
 *
 * @example
 * const queue = new SqsUploadQueue();
 * if ((await queue.defer(record, 30_000)) === 'kept') throw new RetryUpload('waiting');
 */
export class SqsUploadQueue implements UploadQueue {
  readonly #client: SQSClient;

  /**
   * `client` defaults to one configured by the SDK's environment (`AWS_ENDPOINT_URL_SQS`, ...) that
   * takes the queue's URL from each message's event source ARN, with short timeouts: a queue that
   * cannot take a copy back makes the upload a counted retry instead.
   */
  constructor(options: { client?: SQSClient } = {}) {
    this.#client = options.client ?? new SQSClient({
      useQueueUrlAsEndpoint: false,
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 1000, requestTimeout: 2000 },
    });
  }

  async defer(record: SQSRecord, delayMs: number): Promise<'requeued' | 'kept'> {
    const queueUrl = queueUrlOf(record.eventSourceARN);
    const delaySeconds = Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil(delayMs / 1000)));
    try {
      await this.#client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: record.body, DelaySeconds: delaySeconds }));
      return 'requeued';
    } catch (error) {
      logger.warn('could not requeue the upload; hiding its message for the wait instead', { error: describeError(error) });
    }
    try {
      await this.#client.send(
        new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: record.receiptHandle, VisibilityTimeout: delaySeconds }),
      );
    } catch (error) {
      logger.warn('could not change the upload message’s visibility; it returns after the queue’s visibility timeout', {
        error: describeError(error),
      });
    }
    return 'kept';
  }
}

import { createHash, randomUUID } from 'node:crypto';
import type { SQSRecord } from 'aws-lambda';
import { startAwsJsonServer } from './aws-json.ts';

/**
 * A loopback SQS standard queue for the operations the relay calls (SendMessage,
 * ChangeMessageVisibility), with the behaviour the upload path relies on: delays, visibility,
 * receive counts and a redrive to a dead-letter queue after `maxReceiveCount` receives. The
 * tests and the bench play Lambda's event source mapping through `receive` and `settle`.
 */
export interface SqsOptions {
  queueName: string;
  /** Receives after which a message that comes back again goes to the dead-letter queue. */
  maxReceiveCount: number;
  /** How long a received message stays hidden (a time-scaled run passes a scaled value). */
  visibilityTimeoutSeconds: number;
}

export interface SentMessage {
  queueUrl: string;
  body: string;
  delaySeconds: number;
}

export interface VisibilityChange {
  receiptHandle: string;
  visibilityTimeout: number;
}

interface Message {
  id: string;
  body: string;
  receiveCount: number;
  visibleAt: number;
  receiptHandle: string | undefined;
  sentAt: number;
}

export interface SqsEndpoint {
  url: string;
  /** The ARN Lambda's event records carry as `eventSourceARN`. */
  arn: string;
  /** SendMessage requests received, oldest first. */
  sent(): SentMessage[];
  /** ChangeMessageVisibility requests received, oldest first. */
  visibilityChanges(): VisibilityChange[];
  clear(): void;
  /** The next `times` requests of `operation` (e.g. `SendMessage`) fail with a 500. */
  failNext(operation: string, times: number): void;
  /** Queues a message as S3 would. */
  enqueue(body: string): void;
  /** Up to `max` visible messages, as Lambda's poller receives them (receive counts raised, dead-lettering applied). */
  receive(max: number): SQSRecord[];
  /** After an invocation: deletes the messages not reported failed, as the event source mapping does. */
  settle(records: SQSRecord[], failedIds: ReadonlySet<string>): void;
  /** Messages in the queue, visible or not. */
  depth(): number;
  /** Bodies moved to the dead-letter queue. */
  deadLetters(): string[];
  /** When the next hidden message becomes visible (epoch ms), or undefined when none is hidden. */
  nextVisibleAt(): number | undefined;
  close(): Promise<void>;
}

const md5 = (text: string) => createHash('md5').update(text).digest('hex');

export async function startSqs(options: SqsOptions): Promise<SqsEndpoint> {
  const ms = (seconds: number) => seconds * 1000;
  const arn = `arn:aws:sqs:us-east-1:123456789012:${options.queueName}`;
  const messages: Message[] = [];
  const dead: string[] = [];
  const sent: SentMessage[] = [];
  const changes: VisibilityChange[] = [];
  const failures = new Map<string, number>();

  const failing = (operation: string) => {
    const left = failures.get(operation) ?? 0;
    if (left <= 0) return false;
    failures.set(operation, left - 1);
    return true;
  };
  const injected = { status: 500, body: { message: 'injected failure' }, errorType: 'InternalError' };
  const add = (body: string, delaySeconds: number) => {
    const message: Message = { id: randomUUID(), body, receiveCount: 0, visibleAt: Date.now() + ms(delaySeconds), receiptHandle: undefined, sentAt: Date.now() };
    messages.push(message);
    return message;
  };

  const server = await startAwsJsonServer({
    'AmazonSQS.SendMessage': (input) => {
      if (failing('SendMessage')) return injected;
      const body = String(input.MessageBody);
      const delaySeconds = Number(input.DelaySeconds ?? 0);
      sent.push({ queueUrl: String(input.QueueUrl), body, delaySeconds });
      const message = add(body, delaySeconds);
      return { body: { MessageId: message.id, MD5OfMessageBody: md5(body) } };
    },
    'AmazonSQS.ChangeMessageVisibility': (input) => {
      if (failing('ChangeMessageVisibility')) return injected;
      const receiptHandle = String(input.ReceiptHandle);
      const visibilityTimeout = Number(input.VisibilityTimeout);
      changes.push({ receiptHandle, visibilityTimeout });
      const message = messages.find((candidate) => candidate.receiptHandle === receiptHandle);
      if (message !== undefined) message.visibleAt = Date.now() + ms(visibilityTimeout);
      return { body: {} };
    },
  });

  return {
    url: server.url,
    arn,
    sent: () => [...sent],
    visibilityChanges: () => [...changes],
    clear: () => {
      sent.length = 0;
      changes.length = 0;
      failures.clear();
    },
    failNext: (operation, times) => {
      failures.set(operation, times);
    },
    enqueue: (body) => {
      add(body, 0);
    },
    receive: (max) => {
      const now = Date.now();
      const records: SQSRecord[] = [];
      for (const message of [...messages]) {
        if (records.length >= max) break;
        if (message.visibleAt > now) continue;
        if (message.receiveCount >= options.maxReceiveCount) {
          messages.splice(messages.indexOf(message), 1);
          dead.push(message.body);
          continue;
        }
        message.receiveCount += 1;
        message.receiptHandle = randomUUID();
        message.visibleAt = now + ms(options.visibilityTimeoutSeconds);
        records.push({
          messageId: message.id,
          receiptHandle: message.receiptHandle,
          body: message.body,
          attributes: {
            ApproximateReceiveCount: String(message.receiveCount),
            SentTimestamp: String(message.sentAt),
            SenderId: 'AIDAS3NOTIFICATIONS',
            ApproximateFirstReceiveTimestamp: String(now),
          },
          messageAttributes: {},
          md5OfBody: md5(message.body),
          eventSource: 'aws:sqs',
          eventSourceARN: arn,
          awsRegion: 'us-east-1',
        });
      }
      return records;
    },
    settle: (records, failedIds) => {
      for (const record of records) {
        if (failedIds.has(record.messageId)) continue;
        const index = messages.findIndex((message) => message.receiptHandle === record.receiptHandle);
        if (index >= 0) messages.splice(index, 1);
      }
    },
    depth: () => messages.length,
    deadLetters: () => [...dead],
    nextVisibleAt: () => {
      const hidden = messages.map((message) => message.visibleAt);
      return hidden.length === 0 ? undefined : Math.min(...hidden);
    },
    close: () => server.close(),
  };
}

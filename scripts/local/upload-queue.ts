import { createHash, randomUUID } from 'node:crypto';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { lambdaContext, type FunctionSettings, type LambdaHandler } from './lambda.ts';
import type { QueueSource } from './service.ts';

/**
 * A queue of this stack and its event source mapping, in process. Messages (here: S3 event
 * notifications, as S3 sends them to SQS) are delivered to the function in batches of up to
 * `batchSize`, at most `maximumConcurrency` batches at a time, as the SQS event Lambda receives
 * (ApproximateReceiveCount counting the receives). A message the function reports as a batch item
 * failure, or every message of a batch when the function throws or times out, comes back after
 * `retryDelayMs`; after `maxReceiveCount` receives it moves to the dead-letter queue (kept here
 * and reported). Written by hand: the libraries that run SQS event sources locally poll a real
 * SQS or ElasticMQ, neither of which `npm start` has.
 */
export interface LocalQueueOptions {
  source: QueueSource;
  fn: FunctionSettings;
  handler: LambdaHandler;
  /** How long a failed message stays invisible (the queue's visibility timeout, shortened for local runs). */
  retryDelayMs: number;
  region: string;
  log(message: string): void;
}

interface Message {
  messageId: string;
  body: string;
  sentAt: number;
  receiveCount: number;
  firstReceiveAt: number | undefined;
  visibleAt: number;
  receiving: boolean;
}

export class LocalQueue {
  readonly #options: LocalQueueOptions;
  readonly #messages: Message[] = [];
  readonly #deadLetters: Message[] = [];
  #deliveries = 0;
  #wakeUp: NodeJS.Timeout | undefined;
  #pumpScheduled = false;
  #closed = false;

  constructor(options: LocalQueueOptions) {
    this.#options = options;
  }

  send(body: string): void {
    const now = Date.now();
    this.#messages.push({ messageId: randomUUID(), body, sentAt: now, receiveCount: 0, firstReceiveAt: undefined, visibleAt: now, receiving: false });
    // Messages sent together are received together, as a poll finds them in the queue.
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  /** Messages still to be delivered or being delivered. */
  get depth(): number {
    return this.#messages.length;
  }

  /** Bodies of the messages that used up their receives. */
  deadLetters(): string[] {
    return this.#deadLetters.map((message) => message.body);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#wakeUp);
  }

  #pump(): void {
    if (this.#closed) return;
    const { batchSize, maximumConcurrency } = this.#options.source;
    while (this.#deliveries < maximumConcurrency) {
      const now = Date.now();
      const batch = this.#messages.filter((message) => !message.receiving && message.visibleAt <= now).slice(0, batchSize);
      if (batch.length === 0) break;
      this.#deliveries += 1;
      void this.#deliver(batch).finally(() => {
        this.#deliveries -= 1;
        this.#pump();
      });
    }
    const waiting = this.#messages.filter((message) => !message.receiving).map((message) => message.visibleAt);
    clearTimeout(this.#wakeUp);
    if (waiting.length > 0) {
      this.#wakeUp = setTimeout(() => this.#pump(), Math.max(0, Math.min(...waiting) - Date.now()));
      this.#wakeUp.unref();
    }
  }

  async #deliver(batch: Message[]): Promise<void> {
    const { source, fn, region } = this.#options;
    const now = Date.now();
    for (const message of batch) {
      message.receiving = true;
      message.receiveCount += 1;
      message.firstReceiveAt ??= now;
    }
    const event: SQSEvent = {
      Records: batch.map((message) => ({
        messageId: message.messageId,
        receiptHandle: randomUUID(),
        body: message.body,
        attributes: {
          ApproximateReceiveCount: String(message.receiveCount),
          SentTimestamp: String(message.sentAt),
          SenderId: 'AIDAS3NOTIFICATIONS',
          ApproximateFirstReceiveTimestamp: String(message.firstReceiveAt),
        },
        messageAttributes: {},
        md5OfBody: createHash('md5').update(message.body).digest('hex'),
        eventSource: 'aws:sqs',
        eventSourceARN: `arn:aws:sqs:${region}:000000000000:${source.queueName}`,
        awsRegion: region,
      })),
    };
    const failed = await this.#invoke(event);
    for (const message of batch) {
      message.receiving = false;
      if (!failed.has(message.messageId)) {
        this.#remove(message);
      } else if (message.receiveCount >= source.maxReceiveCount) {
        this.#remove(message);
        this.#deadLetters.push(message);
        this.#options.log(`${source.queueName}: message ${message.messageId} moved to the dead-letter queue after ${message.receiveCount} receives`);
      } else {
        message.visibleAt = Date.now() + this.#options.retryDelayMs;
      }
    }
  }

  /** The ids of the messages that failed; all of them when the function threw, timed out or answered something else than a batch response. */
  async #invoke(event: SQSEvent): Promise<Set<string>> {
    const { fn, handler } = this.#options;
    const all = new Set(event.Records.map((record) => record.messageId));
    const timeoutMs = fn.timeoutSeconds * 1000;
    const settled = Promise.resolve()
      .then(() => handler(event, lambdaContext(fn, timeoutMs, this.#options.region)))
      .then((result) => ({ result }), (error: unknown) => ({ error }));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), timeoutMs);
    });
    const first = await Promise.race([settled, deadline]);
    clearTimeout(timer);
    if (first === 'deadline') {
      this.#options.log(`${fn.key} timed out after ${fn.timeoutSeconds} s; its batch returns to the queue`);
      // The function's work goes on in this process; its delivery slot stays taken until it ends.
      await settled;
      return all;
    }
    if ('error' in first) {
      this.#options.log(`${fn.key} failed; its batch returns to the queue: ${first.error instanceof Error ? first.error.message : String(first.error)}`);
      return all;
    }
    // Lambda's rules for ReportBatchItemFailures: no answer or no failures is success; a failure
    // list it cannot read, or one naming an unknown message, fails the whole batch.
    const { result } = first;
    if (result === undefined || result === null) return new Set();
    if (typeof result !== 'object') return all;
    const failures: unknown = (result as Partial<SQSBatchResponse>).batchItemFailures;
    if (failures === undefined || failures === null) return new Set();
    if (!Array.isArray(failures)) return all;
    const ids = failures.map((failure: unknown) => (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier);
    return ids.every((id): id is string => typeof id === 'string' && all.has(id)) ? new Set(ids) : all;
  }

  #remove(message: Message): void {
    const index = this.#messages.indexOf(message);
    if (index >= 0) this.#messages.splice(index, 1);
  }
}

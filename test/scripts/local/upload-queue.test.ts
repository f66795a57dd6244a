import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalQueue } from '../../../scripts/local/upload-queue.ts';

/** The local upload queue against a function made for the test: batches, receive counts, retries, dead letters. */
const deliveries: SQSEvent[] = [];
const logged: string[] = [];
let queue: LocalQueue | undefined;
afterEach(() => {
  queue?.close();
  deliveries.length = 0;
  logged.length = 0;
});

function start(answer: (event: SQSEvent) => Promise<SQSBatchResponse | undefined>, settings: { batchSize?: number; maximumConcurrency?: number; maxReceiveCount?: number } = {}) {
  queue = new LocalQueue({
    source: { queue: 'UploadQueue', queueName: 'uploads', functionKey: 's3Upload', batchSize: 10, maximumConcurrency: 2, maxReceiveCount: 3, ...settings },
    fn: { key: 's3Upload', name: 'test-s3Upload', timeoutSeconds: 1, memorySize: 512 },
    handler: async (event) => {
      deliveries.push(event as SQSEvent);
      return answer(event as SQSEvent);
    },
    retryDelayMs: 50,
    region: 'eu-west-1',
    log: (message) => logged.push(message),
  });
  return queue;
}

const bodies = (event: SQSEvent) => event.Records.map((record) => record.body);
const receives = (event: SQSEvent) => event.Records.map((record) => record.attributes.ApproximateReceiveCount);

describe('local upload queue', () => {
  it('delivers SQS events as Lambda gets them, in batches of up to batchSize', async () => {
    const local = start(async () => undefined, { batchSize: 2, maximumConcurrency: 1 });
    for (const body of ['a', 'b', 'c']) local.send(body);
    await expect.poll(() => local.depth).toBe(0);
    expect(deliveries.map(bodies)).toEqual([['a', 'b'], ['c']]);
    const [record] = deliveries[0]!.Records;
    expect(record).toMatchObject({
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:eu-west-1:000000000000:uploads',
      awsRegion: 'eu-west-1',
      messageId: expect.any(String),
      md5OfBody: '0cc175b9c0f1b6a831c399e269772661',
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: expect.stringMatching(/^\d+$/), ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d+$/) },
    });
  });

  it('brings back only the messages reported as batch item failures, with their receive count raised', async () => {
    const local = start(async (event) => ({
      batchItemFailures: event.Records.filter((record) => record.body === 'flaky' && record.attributes.ApproximateReceiveCount === '1').map((record) => ({ itemIdentifier: record.messageId })),
    }));
    local.send('flaky');
    local.send('fine');
    await expect.poll(() => local.depth).toBe(0);
    expect(deliveries.map((event) => `${bodies(event).join()} ${receives(event).join()}`)).toEqual(['flaky,fine 1,1', 'flaky 2']);
  });

  it('brings back the whole batch when the function throws or times out, and dead-letters after maxReceiveCount', async () => {
    const local = start(async (event) => {
      if (bodies(event)[0] === 'hangs') return new Promise(() => undefined);
      throw new Error('down');
    }, { maximumConcurrency: 1 });
    local.send('throws');
    await expect.poll(() => local.deadLetters()).toEqual(['throws']);
    expect(deliveries.map(receives)).toEqual([['1'], ['2'], ['3']]);
    expect(logged.join('\n')).toMatch(/s3Upload failed; its batch returns to the queue: down[\s\S]*moved to the dead-letter queue after 3 receives/);

    deliveries.length = 0;
    local.send('hangs');
    await expect.poll(() => deliveries.length, { timeout: 3000 }).toBe(1);
    await expect.poll(() => logged.some((line) => line.includes('timed out after 1 s')), { timeout: 3000 }).toBe(true);
  });

  it('fails the whole batch when the failure list names a message it did not deliver', async () => {
    const local = start(async (event) => (receives(event)[0] === '1' ? { batchItemFailures: [{ itemIdentifier: 'no-such-message' }] } : undefined));
    local.send('a');
    await expect.poll(() => local.depth).toBe(0);
    expect(deliveries.map(receives)).toEqual([['1'], ['2']]);
  });

  it('keeps at most maximumConcurrency batches in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const local = start(async () => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 30));
      inFlight -= 1;
      return undefined;
    }, { batchSize: 1, maximumConcurrency: 2 });
    for (let index = 0; index < 6; index += 1) local.send(String(index));
    await expect.poll(() => local.depth).toBe(0);
    expect(deliveries).toHaveLength(6);
    expect(most).toBe(2);
  });
});

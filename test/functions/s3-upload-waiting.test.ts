import { beforeEach, describe, expect, it } from 'vitest';
import { invoke, lambdaContext, loadFunction, type RestHandler } from '../support/lambda.ts';
import { CLIENT, expectUpstreamAnswer, fixtureImage } from '../support/relay.ts';
import { BUCKET, QUEUE_NAME, sqsEvent, TOKEN_TABLE, usePipeline } from '../support/uploads.ts';

/**
 * Uploads that must wait — for the plan's capacity, or for an invocation with time to check
 * them — go back to their queue as a delayed copy, not as a failed receive: the received message
 * is reported done, so its receive count never moves it towards the dead-letter queue.
 */
const PHOTO = fixtureImage('face-480p.jpg');
const QUEUE_URL = `https://sqs.us-east-1.amazonaws.com/123456789012/${QUEUE_NAME}`;

const pipeline = usePipeline();
let sequence = 0;

beforeEach(() => {
  pipeline.sqs.clear();
});

/** A fresh container keeping to `limits` on the shared table, for a Deepvue key of its own. */
async function container(limits: string | undefined, extra: Record<string, string> = {}): Promise<string> {
  sequence += 1;
  const client = `uploader-${sequence}`;
  pipeline.deepvue.setClient(client, CLIENT.secret);
  const env = {
    DEEPVUE_CLIENT_ID: client,
    TOKEN_TABLE,
    DEEPVUE_RATE_LIMITS: limits,
    DEEPVUE_RATE_MARGIN_MS: '50',
    ...extra,
  };
  await pipeline.restart(env);
  pipeline.deepvue.clearCalls();
  pipeline.output.clear();
  return client;
}

const uploads = (count: number) => Promise.all(Array.from({ length: count }, () => pipeline.put(`uploads/waiting/${(sequence += 1)}.jpg`, PHOTO)));

describe('the plan’s rate limit on the upload path', () => {
  it('sends an upload the full minute window holds back to its queue, delayed by the wait, unfailed and unpaid', async () => {
    await container('10/s,1/min');
    const [first, second] = await uploads(2);
    if (first === undefined || second === undefined) throw new Error('no uploads');
    const event = sqsEvent([{ object: first, messageId: 'm-first' }, { object: second, messageId: 'm-second' }]);

    const answer = await pipeline.handler()(event, lambdaContext(30_000));

    expect(answer).toEqual({ batchItemFailures: [] });
    expect(pipeline.upstreamChecks()).toBe(1);
    expect(await pipeline.results.read(BUCKET, first.key)).toMatchObject({ status: 'COMPLETED' });
    expect(await pipeline.results.read(BUCKET, second.key)).toBeUndefined();
    const [copy, ...others] = pipeline.sqs.sent();
    expect(others).toEqual([]);
    expect(copy?.queueUrl).toBe(QUEUE_URL);
    expect(copy?.body).toBe(event.Records[1]?.body);
    expect(copy?.delaySeconds).toBeGreaterThanOrEqual(58);
    expect(copy?.delaySeconds).toBeLessThanOrEqual(61);
    expect(pipeline.output.paidCallsAvoided()).toEqual(['limiter-wait']);
    expect(pipeline.output.checkRecords()).toHaveLength(1);
  });

  it('waits in its container for the per-second window instead of a round trip through the queue', async () => {
    await container('1/s');
    pipeline.deepvue.setPlan([{ limit: 1, windowMs: 1000 }]);
    try {
      const objects = await uploads(2);

      const answer = await pipeline.deliver(objects.map((object) => ({ object })));

      expect(answer).toEqual({ batchItemFailures: [] });
      expect(pipeline.sqs.sent()).toEqual([]);
      const [a, b] = pipeline.deepvue.calls('/v1/liveness-check').map((call) => call.at);
      expect((b as number) - (a as number)).toBeGreaterThanOrEqual(1000);
      expect(pipeline.deepvue.rateLimited()).toBe(0);
    } finally {
      pipeline.deepvue.setPlan(undefined);
    }
  });

  it('leaves the API its reserve: uploads stop at 80 % of the window, and an API check still gets its call at once', async () => {
    const client = await container('10/s,5/min', { DEEPVUE_RATE_API_RESERVE_PERCENT: '20' });
    const objects = await uploads(5);

    const answer = await pipeline.deliver(objects.map((object) => ({ object })));

    expect(answer).toEqual({ batchItemFailures: [] });
    expect(pipeline.upstreamChecks()).toBe(4);
    expect(pipeline.sqs.sent()).toHaveLength(1);

    // The API function, another container sharing the table and the Deepvue key.
    const api: RestHandler = await loadFunction('liveness-check', {
      ...pipeline.env,
      DEEPVUE_CLIENT_ID: client,
      TOKEN_TABLE,
      DEEPVUE_RATE_LIMITS: '10/s,5/min',
      DEEPVUE_RATE_MARGIN_MS: '50',
      DEEPVUE_RATE_API_RESERVE_PERCENT: '20',
      AWS_LAMBDA_FUNCTION_NAME: 'livenessCheck',
    });
    const started = Date.now();
    const checked = await invoke(api, { body: JSON.stringify({ image: PHOTO.toString('base64') }) });
    expectUpstreamAnswer(checked, 200, 'SUCCESS');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(pipeline.upstreamChecks()).toBe(5);
  });

  it('falls back to hiding the message for the wait when the copy cannot be queued; that receive counts', async () => {
    await container('10/s,1/min');
    const [first, second] = await uploads(2);
    if (first === undefined || second === undefined) throw new Error('no uploads');
    pipeline.sqs.failNext('SendMessage', 10);

    const answer = await pipeline.deliver([{ object: first, messageId: 'm-1' }, { object: second, messageId: 'm-2' }]);

    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-2' }] });
    const [change] = pipeline.sqs.visibilityChanges();
    expect(change?.receiptHandle).toBe('handle-m-2');
    expect(change?.visibilityTimeout).toBeGreaterThanOrEqual(58);
    expect(pipeline.upstreamChecks()).toBe(1);
  });
});

describe('a batch with little time left', () => {
  beforeEach(async () => {
    await container(undefined);
  });

  it('stops starting images when less than a check’s deadline (and the time to record it) remains; the rest go back unfailed', async () => {
    // UPSTREAM_DEADLINE_MS is 5 s and recording keeps 3 s: 7 s is enough for the first image only.
    const objects = await uploads(3);
    const event = sqsEvent(objects.map((object, index) => ({ object, messageId: `t-${index}` })));

    const answer = await pipeline.handler()(event, lambdaContext(7000));

    expect(answer).toEqual({ batchItemFailures: [] });
    expect(pipeline.upstreamChecks()).toBe(1);
    expect(pipeline.sqs.sent()).toEqual([
      { queueUrl: QUEUE_URL, body: event.Records[1]?.body, delaySeconds: 0 },
      { queueUrl: QUEUE_URL, body: event.Records[2]?.body, delaySeconds: 0 },
    ]);
    expect(await pipeline.results.read(BUCKET, objects[0]?.key ?? '')).toMatchObject({ status: 'COMPLETED' });
    expect(await pipeline.results.read(BUCKET, objects[1]?.key ?? '')).toBeUndefined();
    // Time is not a paid call avoided: nothing would have been paid for a call never started.
    expect(pipeline.output.paidCallsAvoided()).toEqual([]);
  });

  it('starts every image while a whole deadline remains', async () => {
    const objects = await uploads(3);
    const answer = await pipeline.handler()(sqsEvent(objects.map((object) => ({ object }))), lambdaContext(30_000));
    expect(answer).toEqual({ batchItemFailures: [] });
    expect(pipeline.upstreamChecks()).toBe(3);
    expect(pipeline.sqs.sent()).toEqual([]);
  });

  it('always starts the first image of an invocation, so a short timeout slows uploads instead of stopping them', async () => {
    const objects = await uploads(1);
    const answer = await pipeline.deliver(objects.map((object) => ({ object })), 4500);
    expect(answer).toEqual({ batchItemFailures: [] });
    expect(pipeline.upstreamChecks()).toBe(1);
  });
});

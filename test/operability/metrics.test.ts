import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../lib/platform/envelope.ts';
import { RelayMetrics } from '../../lib/platform/metrics.ts';
import { AUTHORIZE, CHECK, documented, faults, type Fault } from '../support/deepvue-emulator.ts';
import { jsonLines, metricRecords, type MetricRecord } from '../support/emf.ts';
import type { HttpAnswer } from '../support/lambda.ts';
import { pngChunk } from '../support/images.ts';
import { captureOutput } from '../support/output.ts';
import { fixtureImage, useRelay } from '../support/relay.ts';
import { BUCKET, MAX_RECEIVE_COUNT, usePipeline } from '../support/uploads.ts';

const NAMESPACE = 'LivenessRelayTest';
const PHOTO = fixtureImage('face-480p.jpg').toString('base64');
const NOT_AN_IMAGE = Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n'.repeat(20));
const sandboxUrl = (outcome: string) => `https://images.example.com/selfies/7.jpg?sandbox=${outcome}`;

const records = (text: string, metric: string) => metricRecords(text).filter((record) => metric in record.metrics);
const finishedLines = (text: string) => jsonLines(text).filter((line) => line.message === 'liveness check finished');

const checkRecord = (subCode: string, source: 'api' | 's3'): MetricRecord => ({
  namespace: NAMESPACE,
  dimensions: { SubCode: subCode, Source: source },
  metrics: { LivenessCheck: { unit: 'Count', value: 1 } },
});
const verdictRecord = (verdict: 'live' | 'spoof', source: 'api' | 's3'): MetricRecord => ({
  namespace: NAMESPACE,
  dimensions: { Verdict: verdict, Source: source },
  metrics: { LivenessVerdict: { unit: 'Count', value: 1 } },
});
const upstreamRecord = (attempts: number, source: 'api' | 's3'): MetricRecord => ({
  namespace: NAMESPACE,
  dimensions: { Source: source },
  metrics: {
    UpstreamLatency: { unit: 'Milliseconds', value: expect.any(Number) as unknown },
    UpstreamAttempts: { unit: 'Count', value: attempts },
  },
});

describe('RelayMetrics: several checks in one invocation', () => {
  it('writes each check’s records with its own dimensions only, never mixed with another’s', () => {
    const envelope = (subCode: string, data?: Envelope['data']): Envelope => ({
      code: 200, timestamp: null, transaction_id: 't', sub_code: subCode, message: subCode, ...(data === undefined ? {} : { data }),
    });
    const output = captureOutput();
    try {
      const metrics = new RelayMetrics({ namespace: NAMESPACE });
      metrics.checkFinished('s3', { envelope: envelope('SUCCESS', { is_live: true, score: null }), upstream: { attempts: 1, latencyMs: 310 } });
      metrics.tokenRenewed();
      metrics.checkFinished('s3', { envelope: envelope('UNSUPPORTED_IMAGE_FORMAT'), upstream: { attempts: 0, latencyMs: 0 } });
      metrics.checkFinished('api', { envelope: envelope('SUCCESS', { is_live: false, score: null }), upstream: { attempts: 3, latencyMs: 1200 } });
      metrics.tokenCacheFellBack();
      metrics.checkFinished('s3', { envelope: envelope('RATE_LIMITED'), upstream: { attempts: 1, latencyMs: 15 } });
    } finally {
      output.restore();
    }

    const noDimensions = (metric: string): MetricRecord => ({ namespace: NAMESPACE, dimensions: {}, metrics: { [metric]: { unit: 'Count', value: 1 } } });
    expect(metricRecords(output.text())).toEqual([
      checkRecord('SUCCESS', 's3'), verdictRecord('live', 's3'), upstreamRecord(1, 's3'),
      noDimensions('TokenRenewals'),
      checkRecord('UNSUPPORTED_IMAGE_FORMAT', 's3'),
      checkRecord('SUCCESS', 'api'), verdictRecord('spoof', 'api'), upstreamRecord(3, 'api'),
      noDimensions('TokenCacheFallbacks'),
      checkRecord('RATE_LIMITED', 's3'), upstreamRecord(1, 's3'),
    ]);
    // Nothing of an earlier record lingers at the root of a later one, and each has one dimension set.
    for (const record of jsonLines(output.text())) {
      const [directive] = (record._aws as { CloudWatchMetrics: Array<{ Dimensions: string[][]; Metrics: Array<{ Name: string }> }> }).CloudWatchMetrics;
      expect(directive?.Dimensions).toHaveLength(1);
      const named = ['_aws', ...(directive?.Dimensions.flat() ?? []), ...(directive?.Metrics.map((metric) => metric.Name) ?? [])];
      expect(Object.keys(record).sort()).toEqual(named.sort());
    }
  });
});

describe('POST /v1/liveness-check: one LivenessCheck record per answer, for every row of the contract', () => {
  // A warm container holding a token: renewals are the check's own.
  const relay = useRelay({ beforeEach: (relay) => relay.post(PHOTO) });

  /** How a row is brought about: `arrange` may restart the container or inject faults; `repair` undoes it. */
  interface Row {
    arrange?: () => unknown;
    act: () => Promise<HttpAnswer>;
    repair?: () => unknown;
    /** Access tokens obtained during the check. */
    renewals?: number;
    verdict?: 'live' | 'spoof';
  }
  const inject = (path: typeof CHECK | typeof AUTHORIZE, fault: Fault, times = 1) => () => relay.deepvue.inject(path, fault, times);
  const post = (image: unknown, remainingMs?: number) => () => relay.post(image, remainingMs);
  const restart = (env?: Record<string, string | undefined>) => () => relay.restart(env);
  const warmRestart = async () => {
    await relay.restart();
    await relay.post(PHOTO);
  };

  const rows: Array<[string, number, string, Row]> = [
    ['a body that is not JSON', 422, 'INVALID_REQUEST', { act: () => relay.invoke({ body: `{"image": "${PHOTO.slice(0, 100)}` }) }],
    ['an object without image', 422, 'INVALID_REQUEST', { act: () => relay.invoke({ body: '{"picture": "x"}' }) }],
    ['an image that is neither a URL nor base64', 422, 'INVALID_BASE64_STRING', { act: post('not base64 at all!') }],
    ['a URL naming a loopback address', 422, 'INVALID_URL', { act: post('http://127.0.0.1/selfie.jpg') }],
    ['base64 of a PDF', 422, 'UNSUPPORTED_IMAGE_FORMAT', { act: post(NOT_AN_IMAGE.toString('base64')) }],
    ['a body too large', 413, 'PAYLOAD_TOO_LARGE', { act: () => relay.invoke({ body: JSON.stringify({ image: 'A'.repeat(6_000_000) }) }) }],
    ['a decoded image above MAX_IMAGE_BYTES', 413, 'PAYLOAD_TOO_LARGE', {
      arrange: restart({ MAX_IMAGE_BYTES: '20000' }), act: post(PHOTO), repair: warmRestart,
    }],
    ['a live photograph', 200, 'SUCCESS', { act: post(PHOTO), verdict: 'live' }],
    ['a spoof', 200, 'SUCCESS', { act: post(sandboxUrl('spoof')), verdict: 'spoof' }],
    ['no face', 200, 'FACE_NOT_DETECTED', { act: post(sandboxUrl('no-face')) }],
    ['Deepvue’s own 422 INVALID_URL', 422, 'INVALID_URL', { act: post(sandboxUrl('invalid-url')) }],
    ['Deepvue’s 500 envelope after the retries', 500, 'INTERNAL_SERVER_ERROR', { arrange: inject(CHECK, faults.serverError(), 3), act: post(PHOTO) }],
    ['a revoked token, renewed once', 200, 'SUCCESS', { arrange: () => relay.deepvue.revokeTokens(), act: post(PHOTO), renewals: 1, verdict: 'live' }],
    ['401 again after the renewal', 502, 'UPSTREAM_AUTH_FAILED', { arrange: inject(CHECK, faults.invalidToken(), 2), act: post(PHOTO), renewals: 1 }],
    ['400 Inactive client_id', 502, 'UPSTREAM_AUTH_FAILED', { arrange: inject(CHECK, faults.inactiveClient()), act: post(PHOTO) }],
    ['403', 502, 'UPSTREAM_AUTH_FAILED', { arrange: inject(CHECK, faults.forbidden()), act: post(PHOTO) }],
    ['authorize refusing the credentials', 502, 'UPSTREAM_AUTH_FAILED', {
      arrange: async () => {
        await relay.restart();
        relay.deepvue.inject(AUTHORIZE, faults.notAuthenticated());
      },
      act: post(PHOTO),
    }],
    ['429 past the deadline', 429, 'RATE_LIMITED', { arrange: inject(CHECK, faults.rateLimited(60)), act: post(PHOTO) }],
    ['503 on every attempt', 503, 'UPSTREAM_UNAVAILABLE', { arrange: inject(CHECK, faults.unavailable(), 3), act: post(PHOTO) }],
    ['connection resets on every attempt', 503, 'UPSTREAM_UNAVAILABLE', { arrange: inject(CHECK, faults.reset(), 3), act: post(PHOTO) }],
    // The signing key is in Secrets Manager too: without it no check is made, and nothing is paid.
    ['Secrets Manager down at cold start', 500, 'INTERNAL_SERVER_ERROR', {
      arrange: async () => {
        relay.secrets.failNext(10);
        await relay.restart();
      },
      act: post(PHOTO),
      repair: () => relay.secrets.failNext(0),
    }],
    ['an HTML page', 502, 'UPSTREAM_ERROR', { arrange: inject(CHECK, faults.notJson()), act: post(PHOTO) }],
    ['a hang', 504, 'UPSTREAM_TIMEOUT', { arrange: inject(CHECK, faults.hang()), act: post(PHOTO, 2500) }],
    ['a deployment without Deepvue configuration', 500, 'INTERNAL_SERVER_ERROR', {
      arrange: restart({ DEEPVUE_SECRET_ID: undefined }), act: post(PHOTO), repair: warmRestart,
    }],
  ];

  it.each(rows)('%s → %s %s', async (_, status, subCode, row) => {
    await row.arrange?.();
    relay.deepvue.clearCalls();
    relay.output.clear();
    let answer: HttpAnswer;
    let text: string;
    let attempts: number;
    try {
      answer = await row.act();
      text = relay.output.text();
      attempts = relay.upstreamCalls(CHECK);
    } finally {
      await row.repair?.();
      relay.output.clear();
    }

    expect({ status: answer.status, subCode: (answer.body as { sub_code?: unknown }).sub_code }).toEqual({ status, subCode });
    expect(records(text, 'LivenessCheck')).toEqual([checkRecord(subCode, 'api')]);
    expect(records(text, 'LivenessVerdict')).toEqual(row.verdict === undefined ? [] : [verdictRecord(row.verdict, 'api')]);
    expect(records(text, 'UpstreamAttempts')).toEqual(attempts === 0 ? [] : [upstreamRecord(attempts, 'api')]);
    expect(records(text, 'TokenRenewals')).toHaveLength(row.renewals ?? 0);
    expect(records(text, 'TokenCacheFallbacks')).toEqual([]);

    expect(finishedLines(text)).toEqual([expect.objectContaining({
      level: 'INFO',
      correlation_id: answer.requestId,
      source: 'api',
      sub_code: subCode,
      status,
      upstream_attempts: attempts,
      upstream_latency_ms: expect.any(Number),
    })]);
    // Every line of the invocation, warnings and errors of dependencies included, names the request.
    const lines = jsonLines(text).filter((line) => 'level' in line);
    expect(lines.map((line) => line.correlation_id)).toEqual(lines.map(() => answer.requestId));
  });
});

describe('s3Upload: one LivenessCheck record per recorded upload result, Source=s3', () => {
  const pipeline = usePipeline();


  it('writes each message of a batch its own records, and none for a version sent back to the queue', async () => {
    // Distinct images, whole: a text chunk of its own before the PNG's IEND.
    const png = fixtureImage('face.png');
    const photo = (n: number) => Buffer.concat([png.subarray(0, png.length - 12), pngChunk('tEXt', Buffer.from(`n\0${n}`, 'latin1')), png.subarray(png.length - 12)]);
    const [live, notImage, spoof, lastTry, retried] = await Promise.all([
      pipeline.put('uploads/metrics/live.png', photo(1)),
      pipeline.put('uploads/metrics/report.pdf', NOT_AN_IMAGE),
      pipeline.put('uploads/metrics/spoof.png', photo(2)),
      pipeline.put('uploads/metrics/last-try.png', photo(3)),
      pipeline.put('uploads/metrics/retried.png', photo(4)),
    ]);
    pipeline.deepvue.inject(CHECK, documented('liveness-success'));
    pipeline.deepvue.inject(CHECK, documented('liveness-success', { data: { is_live: false, score: null } }));
    pipeline.deepvue.inject(CHECK, faults.rateLimited(1), 2);
    pipeline.deepvue.clearCalls();
    pipeline.output.clear();

    const answer = await pipeline.deliver([
      { object: live },
      { object: notImage },
      { object: spoof },
      { object: lastTry, receiveCount: MAX_RECEIVE_COUNT, messageId: 'm-last-try' },
      { object: retried, messageId: 'm-retried' },
    ]);

    // The last try is recorded FAILED and still sent on, to the dead-letter queue.
    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-last-try' }, { itemIdentifier: 'm-retried' }] });
    const text = pipeline.output.text();
    expect(records(text, 'LivenessCheck')).toEqual([
      checkRecord('SUCCESS', 's3'),
      checkRecord('UNSUPPORTED_IMAGE_FORMAT', 's3'),
      checkRecord('SUCCESS', 's3'),
      checkRecord('RATE_LIMITED', 's3'),
    ]);
    expect(records(text, 'LivenessVerdict')).toEqual([verdictRecord('live', 's3'), verdictRecord('spoof', 's3')]);
    expect(records(text, 'UpstreamAttempts')).toEqual([upstreamRecord(1, 's3'), upstreamRecord(1, 's3'), upstreamRecord(1, 's3')]);
    const id = (object: { key: string; eTag: string }) => `s3://${BUCKET}/${object.key}#${object.eTag}`;
    expect(finishedLines(text).map((line) => [line.correlation_id, line.source, line.sub_code])).toEqual([
      [id(live), 's3', 'SUCCESS'],
      [id(notImage), 's3', 'UNSUPPORTED_IMAGE_FORMAT'],
      [id(spoof), 's3', 'SUCCESS'],
      [id(lastTry), 's3', 'RATE_LIMITED'],
    ]);
  });
});

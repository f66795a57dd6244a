import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ResultsStore } from '../lib/uploads/results.ts';
import { localDynamoConfig } from '../test/support/dynalite.ts';
import { startEventBridge } from '../test/support/eventbridge.ts';
import { restEvent } from '../test/support/lambda.ts';
import { fixtureImage, secretValue } from '../test/support/relay.ts';
import { localS3Config, S3RVER_CREDENTIALS } from '../test/support/s3rver.ts';
import { signingKeySecret, SIGNING_KEY_SECRET_ID, startSecretsManager } from '../test/support/secrets-manager.ts';
import { sqsEvent } from '../test/support/uploads.ts';
import { startAwsServers } from './aws-servers.ts';
import type { BundledFunction } from './cold-start.ts';
import { median } from './stats.ts';
import { BENCH_CLIENT, startUpstream } from './upstream.ts';

/**
 * A Lambda-like cold start: a fresh Node process, with the function's environment, imports the
 * bundle and answers its first event, as the Lambda runtime does on a new container; then it
 * exits. What the first event meets is what a deployed one meets: the client secret in Secrets
 * Manager, the Deepvue token already in the token table (another container stored it), the rate
 * limiter's item beside it, Deepvue (the emulator, in a process of its own), and for an upload
 * the object in S3, its claim and result in the results table and its completion event. The
 * baseline is the same process with a handler that answers at once.
 */
export interface FirstEvent {
  name: string;
  /** Median wall-clock time of the whole process, from spawn to exit. */
  totalMs: number;
  /** The same for the process with an empty handler. */
  emptyMs: number;
  /** Medians measured inside the process: importing the bundle, then answering the event. */
  importMs: number;
  answerMs: number;
  /** Every run's total, for the spread. */
  runs: number[];
}

/** What the child reports on file descriptor 3. */
interface ChildReport {
  importMs: number;
  answerMs: number;
  /** Empty when the answer was what the function answers to a good first event. */
  problem: string;
}

/**
 * The process Lambda would start: reads the event (the runtime receives it over its API), imports
 * the handler's module, invokes it with a Lambda context, checks the answer, reports, exits.
 * Plain JavaScript, so that nothing but the bundle is compiled.
 */
const CHILD = `
import { readFileSync, writeSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
const [file, eventFile, expect] = process.argv.slice(1);
const event = JSON.parse(readFileSync(eventFile, 'utf8'));
const started = performance.now();
const { handler } = await import(file);
const imported = performance.now();
const deadline = Date.now() + 25000;
const context = {
  callbackWaitsForEmptyEventLoop: true, functionName: process.env.AWS_LAMBDA_FUNCTION_NAME, functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:' + process.env.AWS_LAMBDA_FUNCTION_NAME,
  memoryLimitInMB: '512', awsRequestId: randomUUID(), logGroupName: '/aws/lambda/bench', logStreamName: 'bench',
  getRemainingTimeInMillis: () => deadline - Date.now(), done() {}, fail() {}, succeed() {},
};
const answer = await handler(event, context);
const answered = performance.now();
const problem = expect === 'no-batch-failures'
  ? (Array.isArray(answer?.batchItemFailures) && answer.batchItemFailures.length === 0 ? '' : 'answered ' + JSON.stringify(answer))
  : (String(answer?.statusCode) === expect ? '' : 'answered ' + JSON.stringify(answer));
writeSync(3, JSON.stringify({ importMs: imported - started, answerMs: answered - imported, problem }));
process.exit(0);
`;

const EMPTY_HANDLER = 'export const handler = async () => ({ statusCode: 200 });\n';

const PHOTO = fixtureImage('face-480p.jpg');

interface Service {
  env: Record<string, string>;
  /**
   * Writes a first event of `name` (and what it needs, e.g. a new uploaded object) to a file, with
   * what a good answer is: its HTTP status, or an SQS batch answer without failures.
   */
  nextEvent(name: string): Promise<{ file: string; expect: string }>;
  stop(): Promise<void>;
}

/**
 * The services of serverless.yml's own names (tables, bucket, secret, bus: the functions run with
 * their environment from the stack), on loopback.
 */
async function startService(environment: Record<string, string>, workDir: string): Promise<Service> {
  const tokenTable = environment.TOKEN_TABLE ?? 'tokens';
  const resultsTable = environment.RESULTS_TABLE ?? 'results';
  const bucket = environment.UPLOAD_BUCKET ?? 'uploads';
  const prefix = environment.UPLOAD_PREFIX ?? 'uploads/';
  const secretId = environment.DEEPVUE_SECRET_ID ?? 'deepvue';
  const [upstream, aws, secrets, events] = await Promise.all([
    startUpstream(),
    startAwsServers([tokenTable, resultsTable], [bucket]),
    startSecretsManager({
      [secretId]: secretValue(BENCH_CLIENT.id, BENCH_CLIENT.secret),
      [environment.SIGNING_KEY_SECRET_ID ?? SIGNING_KEY_SECRET_ID]: signingKeySecret(),
    }),
    startEventBridge(),
  ]);
  const env = {
    DEEPVUE_BASE_URL: upstream.baseUrl,
    // The deployed default is Starter (1/s, 30/min): rounds of cold starts would wait for it. A
    // larger plan keeps the limiter's reads and writes in every check, without the waits.
    DEEPVUE_RATE_LIMITS: 'enterprise',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ENDPOINT_URL_DYNAMODB: aws.dynamoEndpoint,
    AWS_ENDPOINT_URL_S3: aws.s3Endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
    AWS_ENDPOINT_URL_EVENTBRIDGE: events.url,
    // Nothing else is called on a first event; were it, it would fail here, not leave the machine.
    AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
  };
  const s3 = new S3Client(localS3Config(aws.s3Endpoint));
  const dynamo = new DynamoDBClient(localDynamoConfig(aws.dynamoEndpoint));
  const resultKey = `${prefix}bench/first-event-result.jpg`;
  const results = new ResultsStore({ client: dynamo, tableName: resultsTable, retentionDays: 1 });
  const storeResult = (key: string) => results.record({
    bucket,
    key,
    version: 'v1',
    status: 'COMPLETED',
    checkedAt: new Date(),
    result: { code: 200, timestamp: null, transaction_id: 'bench', sub_code: 'SUCCESS', message: 'Liveness check completed' },
    order: 'seq:1',
  });
  await storeResult(resultKey);
  let written = 0;
  const write = (name: string, event: unknown) => {
    const file = join(workDir, `${name}-${written}.json`);
    writeFileSync(file, JSON.stringify(event));
    return file;
  };
  return {
    env,
    nextEvent: async (name) => {
      written += 1;
      switch (name) {
        case 'livenessCheck': {
          const body = JSON.stringify({ image: PHOTO.toString('base64') });
          return { file: write(name, restEvent('POST', '/v1/liveness-check', { body })), expect: '200' };
        }
        case 'livenessResult': {
          const key = encodeURIComponent(resultKey);
          const event = { ...restEvent('GET', `/v1/liveness-results/${key}`, { body: null, headers: {} }), pathParameters: { key } };
          return { file: write(name, event), expect: '200' };
        }
        // A backend opening a session: the commonest first request of the sessions function.
        case 'livenessSessions': {
          const headers = { Host: 'api.example.com', 'X-Forwarded-Proto': 'https', 'Content-Type': 'application/json' };
          const event = { ...restEvent('POST', '/v1/liveness-sessions', { body: '{"reference":"bench"}', headers }), resource: '/v1/liveness-sessions' };
          return { file: write(name, event), expect: '201' };
        }
        case 'capturePage':
          return { file: write(name, restEvent('GET', '/capture', { body: null, headers: {} })), expect: '200' };
        // An erasure of a stored result: a new one each time, as the last was erased.
        case 'livenessErasure': {
          const key = `${prefix}bench/first-event-erased-${written}.jpg`;
          await storeResult(key);
          const encoded = encodeURIComponent(key);
          const event = { ...restEvent('DELETE', `/v1/liveness-results/${encoded}`, { body: null, headers: {} }), resource: '/v1/liveness-results/{key+}', pathParameters: { key: encoded } };
          return { file: write(name, event), expect: '200' };
        }
        // A verifier fetching the public keys: the signing key read from Secrets Manager.
        case 'jwks':
          return { file: write(name, restEvent('GET', '/.well-known/jwks.json', { body: null, headers: {} })), expect: '200' };
        case 's3Upload':
          break;
        default:
          throw new Error(`no first event for ${name}: add one to bench/first-event.ts`);
      }
      // A new object each time: a version already claimed would be answered without a check.
      const key = `${prefix}bench/first-event-${written}.jpg`;
      const { ETag: eTag = '' } = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: PHOTO }));
      const object = { bucket, key, eTag: eTag.replaceAll('"', ''), size: PHOTO.length, sequencer: (0x1000 + written).toString(16).toUpperCase() };
      return { file: write(name, sqsEvent([{ object }])), expect: 'no-batch-failures' };
    },
    stop: async () => {
      s3.destroy();
      dynamo.destroy();
      upstream.stop();
      aws.stop();
      await Promise.all([secrets.close(), events.close()]);
    },
  };
}

/** Runs the child; asynchronously, because the loopback Secrets Manager and EventBridge answer from this process. */
function runChild(file: string, eventFile: string, expect: string, env: Record<string, string>): Promise<{ totalMs: number; report: ChildReport }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, file, eventFile, expect], {
      env,
      // The function's logs and metrics go to standard output, as in Lambda; nobody reads them here.
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let output = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdio[3]?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => {
      const totalMs = performance.now() - started;
      if (code !== 0 || output === '') return reject(new Error(`${file} did not answer its first event: ${stderr}`));
      const report = JSON.parse(output) as ChildReport;
      if (report.problem !== '') return reject(new Error(`${file}: unexpected first answer: ${report.problem}\n${stderr}`));
      resolve({ totalMs, report });
    });
  });
}

/**
 * The Lambda-like cold start of every bundle (in order), `rounds` times each, alternating with
 * the empty handler so that a busy moment of the machine is shared by all. Before the rounds, one
 * livenessCheck process stores the Deepvue token in the token table, where every later cold start
 * finds it.
 */
export async function measureFirstEvents(bundles: BundledFunction[], rounds: number): Promise<FirstEvent[]> {
  const [first] = bundles;
  if (first === undefined) return [];
  const workDir = mkdtempSync(join(tmpdir(), 'relay-first-event-'));
  const service = await startService(first.environment, workDir);
  try {
    const envOf = (bundle: BundledFunction) => ({
      PATH: process.env.PATH ?? '',
      ...bundle.environment,
      AWS_LAMBDA_FUNCTION_NAME: bundle.name,
      ...service.env,
    });
    const empty = join(workDir, 'empty-handler.mjs');
    writeFileSync(empty, EMPTY_HANDLER);
    const checker = bundles.find((bundle) => bundle.name === 'livenessCheck');
    if (checker !== undefined) {
      const warm = await service.nextEvent(checker.name);
      await runChild(checker.file, warm.file, warm.expect, envOf(checker));
    }
    // The empty handler runs with each bundle's NODE_OPTIONS, so that both sides pay for the flags.
    const flagsOf = (bundle: BundledFunction) => bundle.environment.NODE_OPTIONS ?? '';
    const sample = () => ({ total: [] as number[], imports: [] as number[], answers: [] as number[] });
    const empties = new Map(bundles.map((bundle) => [flagsOf(bundle), { bundle, ...sample() }]));
    const samples = bundles.map(sample);
    for (let round = 0; round < rounds; round += 1) {
      for (const { bundle, total } of empties.values()) {
        const event = await service.nextEvent('livenessResult');
        total.push((await runChild(empty, event.file, '200', { ...envOf(bundle), AWS_LAMBDA_FUNCTION_NAME: 'empty' })).totalMs);
      }
      for (const [index, bundle] of bundles.entries()) {
        const event = await service.nextEvent(bundle.name);
        const { totalMs, report } = await runChild(bundle.file, event.file, event.expect, envOf(bundle));
        samples[index]?.total.push(totalMs);
        samples[index]?.imports.push(report.importMs);
        samples[index]?.answers.push(report.answerMs);
      }
    }
    return bundles.map((bundle, index) => {
      const { total, imports, answers } = samples[index] ?? sample();
      const emptyMs = median(empties.get(flagsOf(bundle))?.total ?? []);
      return { name: bundle.name, totalMs: median(total), emptyMs, importMs: median(imports), answerMs: median(answers), runs: total };
    });
  } finally {
    await service.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * Rows 11: what replay detection costs a check. One process holds three containers of
 * livenessCheck (REPLAY_POLICY off, flag and refuse, each with its own deps) and sends them the
 * same photo in turn, so that the machine's load falls on all three alike; Deepvue answers each
 * check 300 ms after it arrived, as the real one does, and the replay table is a dynalite in a
 * process of its own, as DynamoDB is a service of its own. The table is emptied (untimed) before
 * every check, so that each is a first check and goes upstream: the cost measured is that of the
 * digests computed, written and looked up, never that of a refusal. Then, in a fresh process,
 * the decode and the perceptual hash of a 100 KiB photo and of a 4 MiB one.
 *
 *   node bench/replay.ts            all of it: its section of bench/results.md, and the JSON
 */
import { BatchWriteItemCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { prepareImageBytes } from '../lib/check/image.ts';
import { decodePixels } from '../lib/check/decode.ts';
import { checkPixels } from '../lib/check/pixels.ts';
import type { ReplayPolicy } from '../lib/replay/guard.ts';
import { PROBE_KEYS } from '../lib/replay/bands.ts';
import { perceptualHash } from '../lib/replay/matching.ts';
import { localDynamoConfig } from '../test/support/dynalite.ts';
import { lambdaContext, restEvent, type RestHandler } from '../test/support/lambda.ts';
import { fixtureImage } from '../test/support/relay.ts';
import { signingKeySecret, SIGNING_KEY_SECRET_ID, startSecretsManager } from '../test/support/secrets-manager.ts';
import { startAwsServers } from './aws-servers.ts';
import { runInChild, sendResult } from './child.ts';
import { noisyPhoto } from './decode.ts';
import { writeSection } from './results-file.ts';
import { median, percentile } from './stats.ts';
import { BENCH_CLIENT, startUpstream } from './upstream.ts';

/** Deepvue's time to answer a liveness check, about what it takes. */
export const UPSTREAM_LATENCY_MS = 300;
const REPLAY_TABLE = 'liveness-relay-bench-replay';
const POLICIES: ReplayPolicy[] = ['off', 'flag', 'refuse'];

export interface ReplaySide {
  p50: number;
  p95: number;
  /** Median CPU time of the relay's process (user and system) per check: what a lookup costs the function, whatever the table's speed. */
  cpuMs: number;
}

export interface HashCost {
  name: string;
  fileBytes: number;
  width: number;
  height: number;
  /** False when the decode limits leave its pixels alone: it is then compared exactly only. */
  decoded: boolean;
  /** Median decode of the pixels (shared with the pre-screen when it is on), or the refusal to decode. */
  decodeMs: number;
  /** Median perceptual hash of the decoded pixels (0 when not decoded). */
  hashMs: number;
}

export interface ReplayCost {
  samples: number;
  photoBytes: number;
  sides: Record<ReplayPolicy, ReplaySide>;
  hashes: HashCost[];
}

/** One container of `functions/liveness-check.ts` per policy: the module imported afresh under each environment. */
async function containers(upstreamUrl: string, dynamoEndpoint: string): Promise<Record<ReplayPolicy, RestHandler>> {
  // The signing key from a loopback Secrets Manager, as deployed: read once, then from memory.
  const secrets = await startSecretsManager({ [SIGNING_KEY_SECRET_ID]: signingKeySecret() });
  Object.assign(process.env, {
    SIGNING_KEY_SECRET_ID,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
    DEEPVUE_BASE_URL: upstreamUrl,
    DEEPVUE_CLIENT_ID: BENCH_CLIENT.id,
    DEEPVUE_CLIENT_SECRET: BENCH_CLIENT.secret,
    AWS_LAMBDA_FUNCTION_NAME: 'livenessCheck',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint,
    REPLAY_TABLE,
    METRICS_NAMESPACE: 'LivenessRelayBench',
    POWERTOOLS_SERVICE_NAME: 'liveness-relay-bench',
  });
  for (const name of ['DEEPVUE_SECRET_ID', 'TOKEN_TABLE', 'RESULTS_TABLE', 'IS_OFFLINE', 'IS_LOCAL', 'POWERTOOLS_DEV', 'PRESCREEN']) delete process.env[name];
  const handlers: Partial<Record<ReplayPolicy, RestHandler>> = {};
  for (const policy of POLICIES) {
    process.env.REPLAY_POLICY = policy;
    // A module URL of its own: its configuration and dependencies, as a container of its own has.
    handlers[policy] = ((await import(`../functions/liveness-check.ts?replay=${policy}`)) as { handler: RestHandler }).handler;
  }
  return handlers as Record<ReplayPolicy, RestHandler>;
}

/** Deletes every item of a replay table (a scan: the bench's own, never the relay's way), so that the next check is a first check. */
export async function emptyReplayTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const { Items = [] } = await client.send(new ScanCommand({ TableName: tableName, ProjectionExpression: 'pk, sk' }));
  for (let at = 0; at < Items.length; at += 25) {
    const deletes = Items.slice(at, at + 25).map((item) => ({ DeleteRequest: { Key: { pk: item.pk ?? { S: '' }, sk: item.sk ?? { S: '' } } } }));
    await client.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: deletes } }));
  }
}

async function measureSides(upstreamUrl: string, dynamoEndpoint: string, samples: number): Promise<Pick<ReplayCost, 'sides' | 'photoBytes'>> {
  const handlers = await containers(upstreamUrl, dynamoEndpoint);
  const client = new DynamoDBClient(localDynamoConfig(dynamoEndpoint));
  const photo = fixtureImage('face-480p.jpg');
  const body = JSON.stringify({ image: photo.toString('base64') });
  const times: Record<ReplayPolicy, number[]> = { off: [], flag: [], refuse: [] };
  const cpu: Record<ReplayPolicy, number[]> = { off: [], flag: [], refuse: [] };
  const warmup = 10;
  try {
    for (let round = 0; round < warmup + samples; round += 1) {
      // Each round in another order, so that no policy always follows the same one.
      const order = POLICIES.map((policy, index) => POLICIES[(index + round) % POLICIES.length] ?? policy);
      for (const policy of order) {
        // The previous check's note, written after its answer, lands before the table is emptied.
        await sleep(20);
        await emptyReplayTable(client, REPLAY_TABLE);
        const event = restEvent('POST', '/v1/liveness-check', { body });
        const context = lambdaContext(29_000);
        const started = performance.now();
        const cpuBefore = process.cpuUsage();
        const result = (await handlers[policy](event, context)) as { statusCode?: number };
        const elapsed = performance.now() - started;
        const { user, system } = process.cpuUsage(cpuBefore);
        if (result.statusCode !== 200) throw new Error(`REPLAY_POLICY=${policy}: the relay answered ${result.statusCode}; every check here is a first check`);
        if (round >= warmup) {
          times[policy].push(elapsed);
          cpu[policy].push((user + system) / 1000);
        }
      }
    }
  } finally {
    client.destroy();
  }
  const side = (policy: ReplayPolicy): ReplaySide => {
    const sorted = times[policy].toSorted((a, b) => a - b);
    return { p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), cpuMs: median(cpu[policy]) };
  };
  return { photoBytes: photo.length, sides: { off: side('off'), flag: side('flag'), refuse: side('refuse') } };
}

/** The decode and the hash of each photo, `runs` times after a warm-up, as a check does them. */
async function measureHashes(runs: number): Promise<HashCost[]> {
  // Noise in every pixel, so that the entropy-coded data is dense: the slowest decodes per byte.
  const photos: Array<[string, Buffer]> = [
    ['face-480p.jpg, 100 KiB', fixtureImage('face-480p.jpg')],
    ['the largest JPEG the decode limits take (2192×1648), 3.7 MB, noisy', noisyPhoto(2192, 1648, 95)],
    ['a 12 MP phone photo (4032×3024), 4.2 MB, noisy: over the decode limits', noisyPhoto(4032, 3024, 83)],
  ];
  const costs: HashCost[] = [];
  for (const [name, bytes] of photos) {
    const prepared = await prepareImageBytes(bytes, 4 * 1024 * 1024);
    if (!prepared.ok || prepared.image.kind !== 'base64') throw new Error(`${name}: not accepted`);
    const decodes: number[] = [];
    const hashes: number[] = [];
    let decoded = false;
    for (let run = 0; run < runs + 2; run += 1) {
      const started = performance.now();
      const pixels = await checkPixels(prepared.image, decodePixels)();
      const decodeMs = performance.now() - started;
      decoded = pixels.ok;
      const hashStarted = performance.now();
      if (pixels.ok) perceptualHash(pixels.pixels);
      const hashMs = pixels.ok ? performance.now() - hashStarted : 0;
      if (run >= 2) {
        decodes.push(decodeMs);
        hashes.push(hashMs);
      }
    }
    const { width, height } = prepared.image.header;
    costs.push({ name, fileBytes: bytes.length, width, height, decoded, decodeMs: median(decodes), hashMs: median(hashes) });
  }
  return costs;
}

const ms = (value: number) => `${value.toFixed(2)} ms`;

/** The section `node bench/replay.ts` writes alone (`npm run bench` writes the same measures as its rows 12). */
function replayMarkdown(cost: ReplayCost): string {
  const { off, flag, refuse } = cost.sides;
  const added = (side: ReplaySide, pick: keyof ReplaySide) => `${ms(side[pick])} (${side[pick] - off[pick] >= 0 ? '+' : '−'}${ms(Math.abs(side[pick] - off[pick]))})`;
  return [
    '## Replayed images: what a check pays',
    '',
    `Written by \`node bench/replay.ts\` alone (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, load average ${loadavg().map((load) => load.toFixed(2)).join(', ')} at the end): three`,
    `containers of livenessCheck (REPLAY_POLICY off, flag, refuse) in one process, ${cost.samples} first checks each of a`,
    `${Math.round(cost.photoBytes / 1024)} KiB photo in turn, Deepvue answering ${UPSTREAM_LATENCY_MS} ms after each request arrived, the replay table on dynalite in a`,
    `process of its own (each lookup reads its SHA-256's key and ${PROBE_KEYS} index keys, at most QUERY_CONCURRENCY at a time).`,
    '',
    '| REPLAY_POLICY | p50 (added to off) | p95 (added to off) | CPU of the relay\'s process a check, median (added to off) |',
    '| --- | ---: | ---: | ---: |',
    `| off | ${ms(off.p50)} | ${ms(off.p95)} | ${ms(off.cpuMs)} |`,
    `| flag | ${added(flag, 'p50')} | ${added(flag, 'p95')} | ${added(flag, 'cpuMs')} |`,
    `| refuse (the lookup before the call) | ${added(refuse, 'p50')} | ${added(refuse, 'p95')} | ${added(refuse, 'cpuMs')} |`,
    '',
    '| Photo | Decode (median) | Perceptual hash (median) |',
    '| --- | ---: | ---: |',
    ...cost.hashes.map((hash) => `| ${hash.name} (${hash.width}×${hash.height}) | ${ms(hash.decodeMs)}${hash.decoded ? '' : ': over the decode limits, refused'} | ${hash.decoded ? ms(hash.hashMs) : 'none: exact digest only'} |`),
  ].join('\n');
}

export async function measureReplay(samples: number): Promise<ReplayCost> {
  const [upstream, aws] = await Promise.all([startUpstream({ checkLatencyMs: UPSTREAM_LATENCY_MS }), startAwsServers([], [], [REPLAY_TABLE])]);
  try {
    const checks = await runInChild<Pick<ReplayCost, 'sides' | 'photoBytes'>>(new URL(import.meta.url), { args: ['sides', upstream.baseUrl, aws.dynamoEndpoint, String(samples)] });
    const hashes = await runInChild<HashCost[]>(new URL(import.meta.url), { args: ['hashes', '9'] });
    return { samples, ...checks, hashes };
  } finally {
    upstream.stop();
    aws.stop();
  }
}

if (import.meta.main) {
  const [mode, ...args] = process.argv.slice(2);
  if (mode === 'sides') {
    const [upstreamUrl = '', dynamoEndpoint = '', samples = '100'] = args;
    sendResult(await measureSides(upstreamUrl, dynamoEndpoint, Number(samples)));
  } else if (mode === 'hashes') {
    sendResult(await measureHashes(Number(args[0] ?? '9')));
  } else if (mode === undefined) {
    const cost = await measureReplay(100);
    writeSection('replay cost', replayMarkdown(cost));
    process.stdout.write(`${JSON.stringify(cost, null, 2)}\n`);
  } else {
    sendResult(await measureReplay(Number(mode)));
  }
}

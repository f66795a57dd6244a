/**
 * `node bench/cost/cost.ts` (and `npm run bench`): what 1,000 checks cost on AWS, path by path,
 * counted in one run and priced with bench/cost/prices.ts; beside a naive relay, and beside the
 * Deepvue calls each path pays. Writes its section of bench/results.md. With `--expect`, also
 * writes bench/cost/expected.json from the run (what test/bench/cost.test.ts holds the API check to).
 * The session's capture page is the built one: `npm run build:page` first (`npm run bench` does).
 */
import { writeFileSync } from 'node:fs';
import { runInChild } from '../child.ts';
import { writeSection } from '../results-file.ts';
import { STARTER_DAY_CALLS, type PathName, type PathOptions, type PathResult } from './paths.ts';
import { MONTHLY, PRICES, PRICES_CHECKED, PRICES_REGION, type PricedUnit } from './prices.ts';
import { readService, type Service } from './service.ts';
import { costs, scaled, total, type Units } from './units.ts';

export const COST_SECTION = 'cost per 1,000 checks';
/** Warm checks per path: the counts are per check, so a few dozen say what a thousand use. */
export const COST_CHECKS = 20;
/** The stage priced: production's settings (the Enterprise plan's limiter, 90-day logs, ...). */
export const STAGE = 'prod';
const EXPECTED = new URL('expected.json', import.meta.url);

/** Runs one path in a process of its own (a fresh set of containers and services). */
export function runPath(options: PathOptions): Promise<PathResult> {
  return runInChild(new URL('paths.ts', import.meta.url), { args: [JSON.stringify(options)] });
}

interface RowSpec {
  path: PathName;
  label: string;
  /** The naive relay's row for the same request. */
  naive?: { path: PathName; label: string };
}

/** The naive relay's answer to a photo it was sent before: what an idempotent repeat and a refused replay cost it. */
const NAIVE_REPEATED = { path: 'naive-repeated', label: 'Naive relay: the same check repeated' } as const;

const RELAY_ROWS: RowSpec[] = [
  { path: 'api', label: 'API check, `POST /v1/liveness-check`', naive: { path: 'naive-api', label: 'Naive relay: API check' } },
  { path: 'api-idempotency-key', label: 'API check with an `Idempotency-Key`' },
  { path: 'api-idempotent-replay', label: 'API check repeated with its `Idempotency-Key`', naive: NAIVE_REPEATED },
  { path: 'api-rejected-input', label: 'API check of input the relay refuses (not base64)', naive: { path: 'naive-rejected-input', label: 'Naive relay: input that is not base64' } },
  { path: 'api-prescreen-pass', label: 'API check, `PRESCREEN=on`, a face that passes' },
  { path: 'api-prescreen-no-face', label: 'API check, `PRESCREEN=on`, no face', naive: { path: 'naive-no-face', label: 'Naive relay: a photo with no face' } },
  { path: 'api-starter-full-day', label: `API check, \`DEEPVUE_RATE_LIMITS=starter\`, after ${STARTER_DAY_CALLS} calls that day` },
  { path: 'api-replay-off', label: 'API check, `REPLAY_POLICY=off`: no replay detection' },
  { path: 'api-replay-refused', label: 'API check, `REPLAY_POLICY=refuse`, a photo checked before: refused as a replay', naive: NAIVE_REPEATED },
  { path: 'upload', label: 'Plain upload: the photo put in the bucket, checked (and deleted), its result read' },
  { path: 'upload-kept-a-day', label: 'Plain upload, `keepUploadsHours=24`: the photo kept a day after its check' },
  { path: 'upload-replay-off', label: 'Plain upload, `REPLAY_POLICY=off`' },
  { path: 'session', label: 'Liveness session: opened, page and face detector, upload, checked, 3 progress reads, verdict read' },
];

export interface CostRun {
  results: Partial<Record<PathName, PathResult>>;
  markdown: string;
}

const usd = (value: number) => `$${value.toFixed(5)}`;
const count = (value: number) => (Number.isInteger(value) ? value.toLocaleString('en-US') : value.toFixed(2));
const bytes = (value: number) => Math.round(value).toLocaleString('en-US');
const per1000 = (result: PathResult) => scaled(result.units, 1000 / result.checks);
const perCheck = (result: PathResult) => scaled(result.units, 1 / result.checks);

/** The bill's columns: the priced lines, grouped as a reader looks for them. */
const COLUMNS: Array<[string, PricedUnit[]]> = [
  ['Lambda', ['lambdaRequests', 'lambdaGbSeconds']],
  ['API Gateway', ['apiRequests']],
  ['DynamoDB', ['dynamoReadUnits', 'dynamoWriteUnits']],
  ['Secrets Manager', ['secretsCalls']],
  ['S3', ['s3PutRequests', 's3GetRequests', 's3StoredGbMonths']],
  ['SQS, EventBridge', ['sqsRequests', 'eventBridgeEvents']],
  ['CloudWatch Logs', ['logGb']],
  ['Data out', ['transferOutGb']],
];

/** The priced line that costs most. */
export function biggestLine(units: Units): PricedUnit {
  const priced = Object.entries(costs(units)) as Array<[PricedUnit, number]>;
  return priced.reduce((best, entry) => (entry[1] > best[1] ? entry : best))[0];
}

function costTable(rows: Array<[string, PathResult]>): string {
  const header = ['Path (per 1,000)', ...COLUMNS.map(([name]) => name), '**AWS total**', 'Biggest line', 'Deepvue calls'];
  const lines = rows.map(([label, result]) => {
    const units = per1000(result);
    const line = costs(units);
    const group = (names: PricedUnit[]) => names.reduce((sum, name) => sum + line[name], 0);
    return [
      label,
      ...COLUMNS.map(([, names]) => usd(group(names))),
      `**${usd(total(units))}**`,
      PRICES[biggestLine(units)].item,
      count(units.deepvueChecks),
    ];
  });
  return markdownTable(header, lines);
}

function unitsTable(rows: Array<[string, PathResult]>): string {
  const header = ['Path (per check)', 'Invocations', 'Billed ms', 'GB-s', 'API requests', 'DynamoDB RRU', 'DynamoDB WRU', 'Secrets Manager', 'S3 PUT-class', 'S3 GET-class', 'S3 DELETE', 'SQS', 'Events', 'Log lines', 'Log bytes', 'Data out bytes', 'Stored byte-hours'];
  const lines = rows.map(([label, result]) => {
    const units = perCheck(result);
    return [
      label,
      count(units.lambdaRequests),
      units.lambdaBilledMs.toFixed(0),
      units.lambdaGbSeconds.toFixed(4),
      count(units.apiRequests),
      count(units.dynamoReadUnits),
      count(units.dynamoWriteUnits),
      count(units.secretsCalls),
      count(units.s3PutRequests),
      count(units.s3GetRequests),
      count(units.s3DeleteRequests),
      count(units.sqsRequests),
      count(units.eventBridgeEvents),
      count(units.logLines),
      bytes(units.logBytes),
      bytes(units.transferOutBytes),
      bytes(units.s3StoredByteHours),
    ];
  });
  return markdownTable(header, lines);
}

function naiveTable(results: CostRun['results']): string {
  const header = ['Request', 'Relay: AWS per 1,000', 'Naive relay: AWS per 1,000', 'Relay: log bytes per check', 'Naive relay: log bytes per check', 'Relay: Deepvue calls per 1,000', 'Naive relay: Deepvue calls per 1,000', 'Paid calls avoided per 1,000'];
  const lines = RELAY_ROWS.flatMap((spec) => {
    const relay = results[spec.path];
    const naive = spec.naive === undefined ? undefined : results[spec.naive.path];
    if (relay === undefined || naive === undefined) return [];
    const [r, n] = [per1000(relay), per1000(naive)];
    return [[spec.label, usd(total(r)), usd(total(n)), bytes(r.logBytes / 1000), bytes(n.logBytes / 1000), count(r.deepvueChecks), count(n.deepvueChecks), count(n.deepvueChecks - r.deepvueChecks)]];
  });
  return markdownTable(header, lines);
}

function coldTable(results: CostRun['results']): string {
  const header = ['New containers of', 'Invocations', 'Init + first answer, billed ms', 'GB-s', 'Secrets Manager', 'DynamoDB RRU', 'DynamoDB WRU', 'Deepvue authorize', 'Log bytes', 'AWS cost'];
  const lines = RELAY_ROWS.filter((spec) => ['api', 'upload', 'session'].includes(spec.path)).flatMap((spec) => {
    const result = results[spec.path];
    if (result === undefined) return [];
    const { cold } = result;
    return [[spec.label, count(cold.lambdaRequests), cold.lambdaBilledMs.toFixed(0), cold.lambdaGbSeconds.toFixed(3), count(cold.secretsCalls), count(cold.dynamoReadUnits), count(cold.dynamoWriteUnits), count(cold.deepvueAuthorizations), bytes(cold.logBytes), usd(total(cold))]];
  });
  return markdownTable(header, lines);
}

function markdownTable(header: string[], lines: string[][]): string {
  return [`| ${header.join(' | ')} |`, `| --- | ${header.slice(1).map(() => '---:').join(' | ')} |`, ...lines.map((line) => `| ${line.join(' | ')} |`)].join('\n');
}

/** Every path, one child process each, one after the other (the machine's cores are the meter's too). */
export async function measureCost(options: { checks: number; service?: Service; progress?: (text: string) => void }): Promise<CostRun> {
  const service = options.service ?? readService(STAGE);
  const paths = [...new Set(RELAY_ROWS.flatMap((spec) => (spec.naive === undefined ? [spec.path] : [spec.path, spec.naive.path])))];
  const results: CostRun['results'] = {};
  for (const path of paths) {
    options.progress?.(`cost: ${path}, ${options.checks} checks`);
    const result = await runPath({ path, checks: options.checks, service });
    results[path] = result;
  }
  const relayRows = RELAY_ROWS.flatMap((spec): Array<[string, PathResult]> => {
    const result = results[spec.path];
    return result === undefined ? [] : [[spec.label, result]];
  });
  const naiveRows = [...new Map(RELAY_ROWS.flatMap((spec) => (spec.naive === undefined ? [] : [[spec.naive.path, spec.naive.label] as const]))).entries()].flatMap(
    ([path, label]): Array<[string, PathResult]> => {
      const result = results[path];
      return result === undefined ? [] : [[label, result]];
    },
  );
  const series = new Set(RELAY_ROWS.flatMap((spec) => results[spec.path]?.metricSeries ?? []));
  const secrets = new Set(Object.values(service.functions).flatMap((deployed) => Object.entries(deployed.environment).filter(([name, value]) => name.endsWith('_SECRET_ID') && value !== '').map(([, value]) => value)));
  const check = fnMemory(service, 'livenessCheck');
  const waitPer1000 = 1000 * (check / 1024) * PRICES.lambdaGbSeconds.usdPerUnit;
  const markdown = `## Cost per 1,000 checks

Written by \`node bench/cost/cost.ts\` (also run by \`npm run bench\`): every number below was counted in
this run, ${options.checks} checks per path after the one that started its containers, and priced with
bench/cost/prices.ts (${PRICES_REGION}, on-demand, first tier, free tiers left out; transcribed ${PRICES_CHECKED}).
The stage priced is \`${STAGE}\`, as serverless.yml configures it (\`serverless print\`).

${costTable([...relayRows, ...naiveRows])}

What each check used, counted:

${unitsTable([...relayRows, ...naiveRows])}

The naive relay beside the relay: the same requests, the Deepvue calls each pays for.

${naiveTable(results)}

Once a month, whatever the traffic: ${secrets.size} secret${secrets.size === 1 ? '' : 's'} in Secrets Manager (${usd(secrets.size * MONTHLY.secret.usd)}),
and the custom metrics the checks above wrote, ${series.size} names with their dimension values
(${usd(series.size * MONTHLY.customMetric.usd)}; a metric is billed only in the months it is written,
and each new \`sub_code\` Deepvue answers with adds one).

Once per new container (a cold start), on top of the rows above:

${coldTable(results)}

How it is counted:

- The functions run from their sources in a process per path, as new containers with the stage's
  environment; the AWS services are loopback stand-ins (dynalite, s3rver, and small emulators of
  Secrets Manager, SQS and EventBridge) behind a metering proxy (bench/cost/aws-meter.ts) that
  counts each request the SDK sends, retries included. DynamoDB's units are dynalite's
  \`ConsumedCapacity\` (every request is sent with \`ReturnConsumedCapacity: TOTAL\`); a write whose
  condition fails is billed the size of the item it was checked against, read by the meter, and a
  Query that reads nothing the minimum read, which dynalite reports as 0.
- Replay detection is on (\`replayPolicy\` \`flag\`, the default) but where a row says otherwise:
  every image checked is looked up under its SHA-256 first; bytes no other check had are then
  hashed and looked up under their index keys too, each Query at least half a read unit
  (${count(queriesPerCheck(results.api))} Queries an API check). The replay table is emptied
  (uncounted) before each check, so that each is a first check of its photo, as most are, and its
  lookup reads next to nothing more (at 10 million stored digests it reads ~175 units:
  docs/design.md). A refused replay's photo was checked once before, by the check that started
  its containers: the refusal stores its SHA-256, finds the first check's, and takes its own back,
  without decoding the photo or reading an index key.
- Signed verdicts are in every row that answers a check: they cannot be switched off (a key that
  cannot be loaded refuses checks). They cost the signing key's read from Secrets Manager once a
  container (the cold starts below), the secret's month, and the signature's bytes in each answer
  (in Data out).
- Lambda: each invocation's wall-clock time rounded up to the millisecond, at the function's
  configured memory; a cold start's init is billed too (since August 2025). Deepvue here is the
  emulator, which answers in milliseconds: the real Deepvue's answer time is Lambda time too, each
  second of it ${usd(waitPer1000)} per 1,000 API checks (livenessCheck at ${check} MB).
- Logs: every line each function writes (its JSON logs and EMF records) and Lambda's own START,
  END and REPORT lines, each counted as CloudWatch Logs sizes an event: its bytes plus 26.
- What AWS does itself is counted where it happens: S3's notification to the upload queue, and
  Lambda's poller receiving and deleting each message (one batch per upload here; a burst shares
  a receive and a delete among up to ten).
- API answers are counted as sent to the internet: gzipped above 1 KB (API Gateway's
  minimumCompressionSize), every client here accepting it. The session's page loads its face
  detector's four files, which browsers then keep for a year.
- The functions' log lines leave out what every line of a log group repeats (lib/platform/logger.ts):
  before that change, an API check wrote 1,737 bytes, counted the same way (docs/performance.md).
- S3 storage: the uploads still in the bucket after the checks, for as long as the bucket's
  lifecycle rule keeps them (\`keepUploadsHours\` rounded up to days, at least one: deploy/retention.cjs).
`;
  return { results, markdown };
}

const fnMemory = (service: Service, name: string) => service.functions[name]?.memoryMb ?? 0;

/** DynamoDB Queries a check of the path sent, on average. */
const queriesPerCheck = (result: PathResult | undefined): number => (result === undefined ? 0 : (result.operations['dynamodb Query'] ?? 0) / result.checks);

/** What test/bench/cost.test.ts holds one API check to. */
export interface ExpectedApiCheck {
  /** Units of one warm API check, timing excepted. */
  units: Omit<Units, 'lambdaBilledMs' | 'lambdaGbSeconds'>;
  /** Those units priced with bench/cost/prices.ts, per 1,000 checks. */
  usdPer1000: number;
}

/** The units the test compares exactly or nearly: all but the time each check took. */
export function untimed(units: Units): ExpectedApiCheck['units'] {
  const { lambdaBilledMs: _billedMs, lambdaGbSeconds: _gbSeconds, ...rest } = units;
  return rest;
}

export const untimedCostPer1000 = (units: ExpectedApiCheck['units']): number => total(scaled({ ...units, lambdaBilledMs: 0, lambdaGbSeconds: 0 }, 1000));

if (import.meta.main) {
  const progress = (text: string) => process.stderr.write(`bench: ${text}\n`);
  const run = await measureCost({ checks: COST_CHECKS, progress });
  writeSection(COST_SECTION, run.markdown);
  if (process.argv.includes('--expect')) {
    const api = run.results.api;
    if (api === undefined) throw new Error('the API check was not measured');
    const measured = untimed(perCheck(api));
    // Whole bytes: the lines' timings vary by a digit or two from run to run anyway.
    const units = { ...measured, logBytes: Math.round(measured.logBytes), transferOutBytes: Math.round(measured.transferOutBytes) };
    const expected: ExpectedApiCheck = { units, usdPer1000: untimedCostPer1000(units) };
    writeFileSync(EXPECTED, `${JSON.stringify(expected, null, 2)}\n`);
  }
  console.log(run.markdown);
}

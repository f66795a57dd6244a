/**
 * CloudWatch Embedded Metric Format, checked against AWS's specification
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html)
 * rather than against Powertools, whose output is what is under test. Written by hand: no
 * maintained validator of the format exists.
 */

/** MetricDatum units CloudWatch accepts. */
const UNITS = new Set([
  'Seconds', 'Microseconds', 'Milliseconds',
  'Bytes', 'Kilobytes', 'Megabytes', 'Gigabytes', 'Terabytes',
  'Bits', 'Kilobits', 'Megabits', 'Gigabits', 'Terabits',
  'Percent', 'Count',
  'Bytes/Second', 'Kilobytes/Second', 'Megabytes/Second', 'Gigabytes/Second', 'Terabytes/Second',
  'Bits/Second', 'Kilobits/Second', 'Megabits/Second', 'Gigabits/Second', 'Terabits/Second',
  'Count/Second', 'None',
]);

/** CloudWatch drops data points older than two weeks or more than two hours ahead. */
const OLDEST_MS = 14 * 24 * 3600 * 1000;
const NEWEST_MS = 2 * 3600 * 1000;

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const nameProblem = (what: string, name: unknown): string | undefined =>
  typeof name === 'string' && name.length >= 1 && name.length <= 255 ? undefined : `${what} ${JSON.stringify(name)} is not a string of 1 to 255 characters`;
const extraMembers = (what: string, object: Json, allowed: string[]): string[] =>
  Object.keys(object).filter((key) => !allowed.includes(key)).map((key) => `${what} has a member the specification does not define: ${key}`);

/** Everything wrong with `record` as an EMF document; empty when CloudWatch would extract all its metrics. */
export function emfProblems(record: unknown, now = Date.now()): string[] {
  if (!isObject(record)) return ['the record is not a JSON object'];
  const meta = record._aws;
  if (!isObject(meta)) return ['_aws is not an object'];
  const problems = extraMembers('_aws', meta, ['Timestamp', 'CloudWatchMetrics', 'LogGroupName', 'LogStreamName']);
  const { Timestamp: timestamp, CloudWatchMetrics: directives } = meta;
  if (!isNumber(timestamp) || !Number.isInteger(timestamp)) problems.push('_aws.Timestamp is not a whole number of epoch milliseconds');
  else if (timestamp < now - OLDEST_MS || timestamp > now + NEWEST_MS) problems.push(`_aws.Timestamp ${timestamp} is outside what CloudWatch accepts`);
  if (!Array.isArray(directives) || directives.length === 0) return [...problems, '_aws.CloudWatchMetrics is not a non-empty array'];
  directives.forEach((directive, index) => problems.push(...directiveProblems(record, directive, `CloudWatchMetrics[${index}]`)));
  return problems;
}

function directiveProblems(root: Json, directive: unknown, where: string): string[] {
  if (!isObject(directive)) return [`${where} is not an object`];
  const problems = extraMembers(where, directive, ['Namespace', 'Dimensions', 'Metrics']);
  const { Namespace: namespace, Dimensions: dimensionSets, Metrics: metrics } = directive;
  const badNamespace = nameProblem(`${where}.Namespace`, namespace);
  if (badNamespace !== undefined) problems.push(badNamespace);
  else if ((namespace as string).startsWith('AWS/')) problems.push(`${where}.Namespace is reserved to AWS`);

  if (!Array.isArray(dimensionSets)) problems.push(`${where}.Dimensions is not an array`);
  else dimensionSets.forEach((set, index) => problems.push(...dimensionSetProblems(root, set, `${where}.Dimensions[${index}]`)));

  if (!Array.isArray(metrics) || metrics.length === 0 || metrics.length > 100) {
    problems.push(`${where}.Metrics is not an array of 1 to 100 metric definitions`);
    return problems;
  }
  const names = metrics.map((metric) => (isObject(metric) ? metric.Name : undefined));
  if (new Set(names).size !== names.length) problems.push(`${where}.Metrics names a metric twice`);
  metrics.forEach((metric, index) => problems.push(...metricProblems(root, metric, `${where}.Metrics[${index}]`)));
  return problems;
}

function dimensionSetProblems(root: Json, set: unknown, where: string): string[] {
  if (!Array.isArray(set)) return [`${where} is not an array of dimension names`];
  if (set.length > 30) return [`${where} has ${set.length} dimensions; at most 30 are allowed`];
  if (new Set(set).size !== set.length) return [`${where} names a dimension twice`];
  return set.flatMap((name: unknown) => {
    const badName = nameProblem(`${where}: dimension`, name);
    if (badName !== undefined) return [badName];
    const value = root[name as string];
    if (typeof value !== 'string') return [`dimension ${name as string} is not a string member of the root`];
    if (value.trim() === '' || value.length > 1024) return [`dimension ${name as string} is blank or longer than 1024 characters`];
    return [];
  });
}

function metricProblems(root: Json, metric: unknown, where: string): string[] {
  if (!isObject(metric)) return [`${where} is not an object`];
  const problems = extraMembers(where, metric, ['Name', 'Unit', 'StorageResolution']);
  const { Name: name, Unit: unit, StorageResolution: resolution } = metric;
  const badName = nameProblem(`${where}.Name`, name);
  if (badName !== undefined) return [...problems, badName];
  if (unit !== undefined && !UNITS.has(unit as string)) problems.push(`${where}.Unit ${JSON.stringify(unit)} is not a CloudWatch unit`);
  if (resolution !== undefined && resolution !== 1 && resolution !== 60) problems.push(`${where}.StorageResolution is neither 1 nor 60`);
  const value = root[name as string];
  const values = Array.isArray(value) ? value : [value];
  if (values.length === 0 || values.length > 100 || !values.every(isNumber)) {
    problems.push(`metric ${name as string} is not a number or an array of 1 to 100 numbers at the root`);
  }
  return problems;
}

/** The JSON objects among the lines of `text`: Powertools' log lines and EMF records. */
export function jsonLines(text: string): Json[] {
  return text.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return [];
    try {
      const value: unknown = JSON.parse(line);
      return isObject(value) ? [value] : [];
    } catch {
      return [];
    }
  });
}

/** An EMF record as the tests read it: one metric directive, its dimensions and values. */
export interface MetricRecord {
  namespace: string;
  dimensions: Record<string, string>;
  metrics: Record<string, { unit: string | undefined; value: unknown }>;
}

/** The EMF records among the lines of `text`, each reduced to its first directive. */
export function metricRecords(text: string): MetricRecord[] {
  return jsonLines(text).flatMap((record) => {
    const directive = (record._aws as { CloudWatchMetrics?: unknown[] } | undefined)?.CloudWatchMetrics?.[0];
    if (!isObject(directive)) return [];
    const dimensionNames = (directive.Dimensions as string[][] | undefined)?.flat() ?? [];
    const metrics = (directive.Metrics as Array<{ Name: string; Unit?: string }> | undefined) ?? [];
    return [{
      namespace: String(directive.Namespace),
      dimensions: Object.fromEntries(dimensionNames.map((name) => [name, String(record[name])])),
      metrics: Object.fromEntries(metrics.map((metric) => [metric.Name, { unit: metric.Unit, value: record[metric.Name] }])),
    }];
  });
}

/** What the suite-wide guard (test/setup/emf-guard.ts) has seen in this test process. */
export interface EmfGuard {
  /** EMF records printed and validated so far. */
  readonly validated: number;
  /** The invalid records seen since the last call, each with what is wrong with it; clears them. */
  drain(): string[];
}

const GUARD = Symbol.for('liveness-relay.emf-guard');

/**
 * Validates every EMF record written to stdout or stderr by this process, whoever writes it and
 * whatever replaces `write` later: `write` becomes an accessor, so a capture that assigns its own
 * function (test/support/output.ts) gets that function wrapped too. Invalid records are kept for
 * `drain()`; a throw inside `write` would land in the code that printed, which may swallow it.
 */
export function installEmfGuard(): EmfGuard {
  const installed = (globalThis as { [GUARD]?: EmfGuard })[GUARD];
  if (installed !== undefined) return installed;
  let validated = 0;
  let invalid: string[] = [];
  const inspect = (line: string) => {
    if (!line.includes('"_aws"')) return;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      invalid.push(`not valid JSON: ${line.slice(0, 300)}`);
      return;
    }
    if (!isObject(record) || !('_aws' in record)) return;
    validated += 1;
    const problems = emfProblems(record);
    if (problems.length > 0) invalid.push(`${problems.join('; ')}\n    in ${line}`);
  };
  for (const stream of [process.stdout, process.stderr]) tapLines(stream, inspect);
  const guard: EmfGuard = {
    get validated() {
      return validated;
    },
    drain: () => {
      const seen = invalid;
      invalid = [];
      return seen;
    },
  };
  (globalThis as { [GUARD]?: EmfGuard })[GUARD] = guard;
  return guard;
}

/** The guard the setup file installed; a test that needs it fails if the setup is not wired. */
export function emfGuard(): EmfGuard {
  const guard = (globalThis as { [GUARD]?: EmfGuard })[GUARD];
  if (guard === undefined) throw new Error('the EMF guard is not installed: vitest.config.ts setupFiles must list test/setup/emf-guard.ts');
  return guard;
}

type Write = NodeJS.WriteStream['write'];

function tapLines(stream: NodeJS.WriteStream, onLine: (line: string) => void): void {
  let partial = '';
  const wrappers = new WeakSet<Write>();
  const wrap = (write: Write): Write => {
    const wrapper = function (this: unknown, chunk: unknown, ...rest: unknown[]) {
      const text = partial + (typeof chunk === 'string' ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : '');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      lines.forEach(onLine);
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as Write;
    wrappers.add(wrapper);
    return wrapper;
  };
  let current = wrap(stream.write);
  Object.defineProperty(stream, 'write', {
    configurable: true,
    enumerable: true,
    get: () => current,
    // Restoring a saved `write` hands back a wrapper: kept as it is, never wrapped twice.
    set: (write: Write) => {
      current = wrappers.has(write) ? write : wrap(write);
    },
  });
}

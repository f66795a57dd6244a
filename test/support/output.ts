/**
 * Captures what the relay writes to standard output and error (Powertools' JSON logs, warnings
 * and errors, EMF records), keeping it out of the test report and available to assertions.
 */
export interface CapturedOutput {
  /** Everything written to either stream since the capture started or was last cleared. */
  text(): string;
  /** `LivenessCheck` EMF records: the dimensions every finished check must write. */
  checkRecords(): Array<{ namespace: string; subCode: unknown; source: unknown }>;
  /** EMF records carrying metric `name`, as written (dimensions and values at the top level). */
  metricRecords(name: string): Array<Record<string, unknown>>;
  /** The `Reason` of every `PaidCallsAvoided` record, in order. */
  paidCallsAvoided(): string[];
  clear(): void;
  restore(): void;
}

interface EmfLine {
  _aws?: { CloudWatchMetrics?: Array<{ Namespace?: string; Metrics?: Array<{ Name?: string }> }> };
  SubCode?: unknown;
  Source?: unknown;
}

export function captureOutput(): CapturedOutput {
  const chunks: string[] = [];
  const streams = [process.stdout, process.stderr];
  const originals = streams.map((stream) => stream.write);
  for (const stream of streams) {
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const callback = rest.find((argument) => typeof argument === 'function');
      if (typeof callback === 'function') callback();
      return true;
    }) as typeof stream.write;
  }

  const text = () => chunks.join('');
  const emfLines = () => text()
    .split('\n')
    .filter((line) => line.startsWith('{') && line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as EmfLine & Record<string, unknown>);
  const metricRecords = (name: string) =>
    emfLines().filter((record) => record._aws?.CloudWatchMetrics?.[0]?.Metrics?.some((metric) => metric.Name === name) === true);
  return {
    text,
    metricRecords,
    paidCallsAvoided: () => metricRecords('PaidCallsAvoided').map((record) => String(record.Reason)),
    checkRecords: () =>
      emfLines()
        .flatMap((record) => {
          const directive = record._aws?.CloudWatchMetrics?.[0];
          const isCheck = directive?.Metrics?.some((metric) => metric.Name === 'LivenessCheck') === true;
          return isCheck ? [{ namespace: directive?.Namespace ?? '', subCode: record.SubCode, source: record.Source }] : [];
        }),
    clear: () => {
      chunks.length = 0;
    },
    restore: () => {
      streams.forEach((stream, index) => {
        stream.write = originals[index] ?? stream.write;
      });
    },
  };
}

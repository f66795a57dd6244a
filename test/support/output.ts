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

/** The EMF records among the lines of `output`. */
function emfRecordsIn(output: string): Array<EmfLine & Record<string, unknown>> {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{') && line.includes('"_aws"'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as EmfLine & Record<string, unknown>];
      } catch {
        return []; // a line cut where the kept output begins
      }
    });
}

/** The EMF records of `output` that carry metric `name`. */
const metricRecordsIn = (output: string, name: string) =>
  emfRecordsIn(output).filter((record) => record._aws?.CloudWatchMetrics?.[0]?.Metrics?.some((metric) => metric.Name === name) === true);

/** The `LivenessCheck` EMF records among the lines of `output`. */
export function checkRecordsIn(output: string): ReturnType<CapturedOutput['checkRecords']> {
  return emfRecordsIn(output)
    .flatMap((record) => {
      const directive = record._aws?.CloudWatchMetrics?.[0];
      const isCheck = directive?.Metrics?.some((metric) => metric.Name === 'LivenessCheck') === true;
      return isCheck ? [{ namespace: directive?.Namespace ?? '', subCode: record.SubCode, source: record.Source }] : [];
    });
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
  return {
    text,
    checkRecords: () => checkRecordsIn(text()),
    metricRecords: (name) => metricRecordsIn(text(), name),
    paidCallsAvoided: () => metricRecordsIn(text(), 'PaidCallsAvoided').map((record) => String(record.Reason)),
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

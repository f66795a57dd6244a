import { describe, expect, it } from 'vitest';
import { documentedBody } from '../../lib/deepvue/documented.ts';
import type { Envelope } from '../../lib/platform/envelope.ts';
import { RelayMetrics } from '../../lib/platform/metrics.ts';
import { emfGuard, emfProblems, jsonLines } from '../support/emf.ts';
import { captureOutput } from '../support/output.ts';

/** What RelayMetrics prints for `emit`, captured. */
function printed(emit: (metrics: RelayMetrics) => void): string {
  const output = captureOutput();
  try {
    emit(new RelayMetrics({ namespace: 'LivenessRelayTest' }));
  } finally {
    output.restore();
  }
  return output.text();
}

const live = documentedBody('liveness-success') as Envelope;

describe('the EMF validator', () => {
  const records = jsonLines(printed((metrics) => {
    metrics.checkFinished('api', { envelope: live, upstream: { attempts: 2, latencyMs: 840 } });
    metrics.tokenRenewed();
  }));

  it('accepts every kind of record the relay prints', () => {
    expect(records).toHaveLength(4);
    for (const record of records) expect(emfProblems(record)).toEqual([]);
  });

  const check = records[0] as Record<string, unknown>;
  const directive = (record: Record<string, unknown>) => (record._aws as { CloudWatchMetrics: Array<Record<string, unknown>> }).CloudWatchMetrics[0] as Record<string, unknown>;
  const changed = (change: (record: Record<string, unknown>) => void) => {
    const copy = structuredClone(check);
    change(copy);
    return copy;
  };

  it.each<[string, Record<string, unknown> | unknown[], RegExp]>([
    ['no _aws', { LivenessCheck: 1 }, /_aws is not an object/],
    ['a Timestamp in seconds', changed((r) => { (r._aws as Record<string, unknown>).Timestamp = Math.floor(Date.now() / 1000); }), /Timestamp .* outside/],
    ['a Timestamp as a string', changed((r) => { (r._aws as Record<string, unknown>).Timestamp = new Date().toISOString(); }), /Timestamp is not/],
    ['no metric directive', changed((r) => { (r._aws as Record<string, unknown>).CloudWatchMetrics = []; }), /CloudWatchMetrics is not a non-empty array/],
    ['no Namespace', changed((r) => { delete directive(r).Namespace; }), /Namespace .* not a string/],
    ['an AWS/ namespace', changed((r) => { directive(r).Namespace = 'AWS/Lambda'; }), /reserved/],
    ['Dimensions that are not arrays of names', changed((r) => { directive(r).Dimensions = ['SubCode']; }), /Dimensions\[0\] is not an array/],
    ['31 dimensions in a set', changed((r) => { directive(r).Dimensions = [Array.from({ length: 31 }, (_, i) => `D${i}`)]; }), /at most 30/],
    ['a dimension missing from the root', changed((r) => { delete r.SubCode; }), /dimension SubCode is not a string member/],
    ['a numeric dimension', changed((r) => { r.Source = 1; }), /dimension Source is not a string member/],
    ['a metric missing from the root', changed((r) => { delete r.LivenessCheck; }), /metric LivenessCheck is not a number/],
    ['a metric value that is a string', changed((r) => { r.LivenessCheck = '1'; }), /metric LivenessCheck is not a number/],
    ['a unit CloudWatch does not know', changed((r) => { directive(r).Metrics = [{ Name: 'LivenessCheck', Unit: 'Checks' }]; }), /not a CloudWatch unit/],
    ['a storage resolution of 5', changed((r) => { directive(r).Metrics = [{ Name: 'LivenessCheck', Unit: 'Count', StorageResolution: 5 }]; }), /StorageResolution/],
    ['no metric definition', changed((r) => { directive(r).Metrics = []; }), /Metrics is not an array of 1 to 100/],
    ['a name that is both a dimension and a metric', changed((r) => {
      directive(r).Dimensions = [['Verdict']];
      directive(r).Metrics = [{ Name: 'Verdict', Unit: 'Count' }];
      r.Verdict = 'live';
    }), /metric Verdict is not a number/],
    ['an array, not an object', [], /not a JSON object/],
  ])('rejects a record with %s', (_, record, problem) => {
    expect(emfProblems(record).join('; ')).toMatch(problem);
  });
});

describe('the suite-wide EMF guard', () => {
  it('validates the records a captured relay prints', () => {
    const before = emfGuard().validated;
    printed((metrics) => metrics.tokenRenewed());
    expect(emfGuard().validated).toBe(before + 1);
  });

  it('reports an invalid record printed under a capture, and one split across writes', () => {
    const output = captureOutput();
    try {
      process.stdout.write('{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]}}\n');
      process.stdout.write('{"_aws":{"Timestamp":');
      process.stdout.write(`${Date.now()},"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["SubCode"]],"Metrics":[{"Name":"LivenessCheck"}]}]},"LivenessCheck":1}\n`);
    } finally {
      output.restore();
    }
    const invalid = emfGuard().drain();
    expect(invalid).toHaveLength(2);
    expect(invalid[0]).toMatch(/Timestamp 1 is outside/);
    expect(invalid[1]).toMatch(/dimension SubCode is not a string member/);
  });
});

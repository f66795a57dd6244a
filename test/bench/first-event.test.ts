import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { bundleFunctions } from '../../bench/cold-start.ts';
import { measureFirstEvents } from '../../bench/first-event.ts';

const outdir = mkdtempSync(join(tmpdir(), 'relay-first-event-test-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

// The bundles, not the sources: what `serverless package` ships, chunks and left-out modules
// included, must start in a fresh process and answer a good first event (the bench's Lambda-like
// cold start throws on any other answer, or on a process that fails).
it('answers the first event of every function from its bundle, in a fresh process as Lambda starts it', async () => {
  const bundles = await bundleFunctions(outdir);
  expect(bundles.map((bundle) => bundle.name).sort()).toEqual(['capturePage', 'jwks', 'livenessCheck', 'livenessErasure', 'livenessResult', 'livenessSessions', 's3Upload']);
  const firstEvents = await measureFirstEvents(bundles, 1);
  for (const first of firstEvents) expect(first.runs, first.name).toHaveLength(1);
}, 120_000);

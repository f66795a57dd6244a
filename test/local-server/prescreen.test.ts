import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalServer, type LocalServer } from '../support/local-server.ts';
import { fixtureImage } from '../support/relay.ts';

/**
 * `PRESCREEN=on npm start`: every checking function of the one process pre-screens (the API
 * check and the upload path), and the start-up output says whether the pre-screen runs. The same
 * run's logs: every line of an invocation names its own function, and each function's first
 * invocation is a cold start, as deployed.
 */
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const SANDBOX = { DEEPVUE_CLIENT_ID: undefined, DEEPVUE_CLIENT_SECRET: undefined, DEEPVUE_SECRET_ID: undefined };

interface LogLine {
  message: string;
  function_name?: string;
  cold_start?: boolean;
  correlation_id?: string;
}

const logLines = (server: LocalServer): LogLine[] =>
  server.output().split('\n').filter((line) => line.startsWith('{"level"')).map((line) => JSON.parse(line) as LogLine);

describe('PRESCREEN=on npm start', () => {
  let server: LocalServer;
  beforeAll(async () => {
    server = await startLocalServer({ ...SANDBOX, PRESCREEN: 'on' });
  }, 120_000);
  afterAll(() => server?.stop());

  it('says the pre-screen is on, and pre-screens POST /v1/liveness-check: two faces are 422 MULTIPLE_FACES, unpaid', async () => {
    expect(server.output()).toContain('[start] Pre-screen: ON (PRESCREEN=on)');
    const answer = await server.request('/v1/liveness-check', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ image: fixtureImage('two-faces.jpg').toString('base64') }),
    });
    expect(answer.status).toBe(422);
    expect(answer.headers['x-liveness-provider']).toBe('prescreen');
    expect(answer.body).toMatchObject({ sub_code: 'MULTIPLE_FACES' });
  });

  it('pre-screens uploads in the same process: two faces are recorded REJECTED, MULTIPLE_FACES', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['scripts/upload.ts', 'test/fixtures/images/two-faces.jpg', 'pair.jpg'], {
      cwd: repoRoot,
      env: { ...process.env, PORT: new URL(server.url).port },
      timeout: 60_000,
    });
    const printed = JSON.parse(stdout.slice(stdout.indexOf('{\n'))) as { result: Record<string, unknown> };
    expect(printed.result).toMatchObject({ key: 'uploads/pair.jpg', status: 'REJECTED', result: { sub_code: 'MULTIPLE_FACES' } });
  });

  it('logs each invocation under its own function, its first one a cold start', async () => {
    // Invocations of other functions while the upload is checked: livenessResult polled by `npm run upload`.
    const lines = logLines(server).filter((line) => line.function_name !== undefined);
    const byFunction = new Map<string, LogLine[]>();
    for (const line of lines) byFunction.set(line.function_name!, [...(byFunction.get(line.function_name!) ?? []), line]);
    expect([...byFunction.keys()].sort()).toEqual(expect.arrayContaining(['liveness-relay-local-livenessCheck', 'liveness-relay-local-s3Upload']));
    // The upload's lines carry its key as correlation id: every one of them names s3Upload.
    const uploadLines = lines.filter((line) => line.correlation_id?.startsWith('s3://') === true);
    expect(uploadLines.length).toBeGreaterThan(0);
    expect(new Set(uploadLines.map((line) => line.function_name))).toEqual(new Set(['liveness-relay-local-s3Upload']));
    for (const [name, own] of byFunction) {
      // Each function's first invocation, and only it, is a cold start (one invocation may log several lines).
      const first = own[0]!.correlation_id;
      expect(own.filter((line) => line.cold_start === true).map((line) => line.correlation_id), name).toEqual(own.filter((line) => line.correlation_id === first).map(() => first));
    }
  });
});

describe('PRESCREEN=on npm start, when the pre-screen cannot start', () => {
  let server: LocalServer;
  beforeAll(async () => {
    server = await startLocalServer({ ...SANDBOX, PRESCREEN: 'on', PRESCREEN_MODULE: '/nonexistent/screen.mjs' });
  }, 120_000);
  afterAll(() => server?.stop());

  it('says so, rather than ON', () => {
    expect(server.output()).toMatch(/\[start\] Pre-screen: NOT RUNNING although PRESCREEN=on: it could not start \(.+\); every image goes to Deepvue unscreened/);
    expect(server.output()).not.toContain('Pre-screen: ON');
  });
});

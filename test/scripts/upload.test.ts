import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { refusedUrl } from '../support/blackhole.ts';

const script = fileURLToPath(new URL('../../scripts/upload.ts', import.meta.url));
const photo = fileURLToPath(new URL('../fixtures/images/face.png', import.meta.url));
const workDir = mkdtempSync(join(tmpdir(), 'upload-script-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));


/** `npm run upload -- <args>` as a developer runs it with no `npm start` running: no AWS, no Deepvue configuration. */
async function upload(...args: string[]) {
  const env: Record<string, string | undefined> = { ...process.env, PORT: new URL(await refusedUrl()).port };
  for (const name of Object.keys(env)) if (/^(AWS_|DEEPVUE_|UPLOAD_|RESULTS_|EVENT_BUS|TOKEN_TABLE|KEEP_UPLOADS)/.test(name)) delete env[name];
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [script, ...args], { cwd: workDir, env, timeout: 60_000 });
  // The printed result is the last JSON document; log lines come before it.
  const printed = JSON.parse(stdout.slice(stdout.lastIndexOf('\n{\n') + 1)) as { result: Record<string, unknown> | null; image: Record<string, unknown> | null };
  return { ...printed, stderr };
}

describe('npm run upload, on its own', () => {
  it('checks a photograph against the sandbox and prints the stored result, the image deleted once checked', async () => {
    const { result, image, stderr } = await upload(photo, 'Zoë selfie.png');
    expect(result).toMatchObject({
      bucket: 'liveness-relay-local-uploads',
      key: 'uploads/Zoë selfie.png',
      status: 'COMPLETED',
      result: { sub_code: 'SUCCESS', data: { is_live: true } },
    });
    expect(image).toEqual({ deleted: true });
    expect(stderr).toContain('embedded s3rver on http://127.0.0.1:');
  });

  it('records a file that is not an image as REJECTED', async () => {
    const { result } = await upload(script);
    expect(result).toMatchObject({ key: 'uploads/upload.ts', status: 'REJECTED', result: { sub_code: 'UNSUPPORTED_IMAGE_FORMAT' } });
  });
});

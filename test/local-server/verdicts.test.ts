import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureImage } from '../support/relay.ts';
import { startLocalServer, type LocalServer } from '../support/local-server.ts';

/**
 * Signed verdicts under `npm start` without SIGNING_KEY_SECRET_ID: the key generated at start, as
 * its start-up lines say, and docs/api.md's verification snippet run exactly as written, with
 * `jose` over HTTP against the JWKS route.
 */
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const API_DOC = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
const PHOTO = fixtureImage('face-480p.jpg');

let server: LocalServer;

beforeAll(async () => {
  server = await startLocalServer({ SIGNING_KEY_SECRET_ID: undefined, DEEPVUE_CLIENT_ID: undefined, DEEPVUE_CLIENT_SECRET: undefined, DEEPVUE_SECRET_ID: undefined });
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

/** The `js` block of docs/api.md under "### Verifying a verdict". */
function verificationSnippet(): string {
  const section = API_DOC.slice(API_DOC.indexOf('### Verifying a verdict'));
  const block = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  if (block === undefined) throw new Error('docs/api.md has no js block under "Verifying a verdict"');
  return block;
}

/** Runs the snippet as a reader would, in a module of its own that defines the three names it uses. */
async function runSnippet(signature: string, answer: unknown): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', [
    `const RELAY_URL = ${JSON.stringify(server.url)};`,
    `const signature = ${JSON.stringify(signature)};`,
    `const answer = ${JSON.stringify(answer)};`,
    verificationSnippet(),
  ].join('\n')], { cwd: repoRoot, timeout: 30_000 });
  return stdout;
}

describe('npm start without SIGNING_KEY_SECRET_ID', () => {
  it('says at start that it signs with a key generated at start, and publishes that key', async () => {
    const kid = /\[start\] Signing: no SIGNING_KEY_SECRET_ID: verdicts are signed with a key generated at start \(kid ([\w-]{43})\)/.exec(server.output())?.[1];
    expect(kid).toBeDefined();
    const jwks = await server.request('/.well-known/jwks.json');
    expect(jwks.status).toBe(200);
    expect((jwks.body as { keys: Array<{ kid: string }> }).keys.map((key) => key.kid)).toEqual([kid]);
  });

  it('signs a check whose signature docs/api.md’s snippet verifies, and refuses an edited answer or signature', async () => {
    const check = await server.request('/v1/liveness-check', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ image: PHOTO.toString('base64') }),
    });
    expect(check.status).toBe(200);
    const signature = String(check.headers['x-liveness-signature']);
    const answer = check.body as { sub_code: string; data: { is_live: boolean } };

    expect(await runSnippet(signature, answer)).toMatch(/^SUCCESS, is_live true, signed \d{4}-\d\d-\d\dT/);

    await expect(runSnippet(signature, { ...answer, data: { ...answer.data, is_live: !answer.data.is_live } })).rejects.toThrow(/this signature is not for this answer/);
    const [header, payload = '', proof] = signature.split('.');
    const edited = JSON.stringify({ ...(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as object), is_live: !answer.data.is_live });
    await expect(runSnippet(`${header}.${Buffer.from(edited).toString('base64url')}.${proof}`, answer)).rejects.toThrow(/signature verification failed/);
  });
});

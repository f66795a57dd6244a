import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalServer, type LocalServer } from '../support/local-server.ts';
import { expectDocumented, readDocument } from '../support/openapi.ts';

/**
 * npm start's own documentation over HTTP (/openapi.json, /docs and the files it loads), and the
 * documented commands run as written against npm start: the README's five minutes (a check, an
 * upload, the session's first steps) and docs/local.md's tour of checks, one `curl` per sub_code,
 * compared with the status and sub_code each line's comment promises. Only the address differs:
 * the docs' http://127.0.0.1:3000 is this server's. The session's steps go on as the capture
 * page takes them.
 *
 * As most people who deploy to AWS have credentials in their shell, the server and every command
 * run with another account's: access keys, and a profile whose credential program would leave a
 * mark if it ran (nothing here is in AWS, so it never should).
 */
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const CHECK = '/v1/liveness-check';

let server: LocalServer;
let workDir: string;
/** A developer's AWS settings for another account, in every environment of this file. */
let foreignAws: Record<string, string>;
/** Where the profile's credential program leaves its mark. */
let profileRan: string;

beforeAll(async () => {
  // The tour writes its request bodies into the folder it runs in; its image paths are the repository's.
  workDir = mkdtempSync(join(tmpdir(), 'readme-tour-'));
  symlinkSync(join(repoRoot, 'test'), join(workDir, 'test'), 'dir');
  profileRan = join(workDir, 'profile-ran');
  writeFileSync(join(workDir, 'aws-config'), `[profile someone-else]\nregion = eu-west-1\ncredential_process = sh -c 'touch ${profileRan}; exit 1'\n`);
  foreignAws = {
    AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    AWS_SESSION_TOKEN: 'FwoGZXIvYXdzEXAMPLE',
    AWS_PROFILE: 'someone-else',
    AWS_CONFIG_FILE: join(workDir, 'aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(workDir, 'aws-credentials'),
  };
  // The deadline only shortens the tour's timeout line (20 s by default).
  server = await startLocalServer({ ...foreignAws, UPSTREAM_DEADLINE_MS: '3000', DEEPVUE_CLIENT_ID: undefined, DEEPVUE_CLIENT_SECRET: undefined, DEEPVUE_SECRET_ID: undefined });
}, 120_000);
afterAll(async () => {
  await server?.stop();
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

/** The code blocks in `language` of the section of the Markdown file `path` under `heading`, up to the next heading. */
function codeBlocks(path: string, heading: string, language = 'sh'): string[] {
  const lines = readFileSync(join(repoRoot, path), 'utf8').split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`${path} has no heading ${heading}`);
  const blocks: string[] = [];
  let block: string[] | undefined;
  let fenced = false;
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('```')) {
      fenced = !fenced;
      if (fenced && line === `\`\`\`${language}`) block = [];
      else if (!fenced && block !== undefined) {
        blocks.push(`${block.join('\n')}\n`);
        block = undefined;
      }
    } else if (!fenced && line.startsWith('#')) {
      break;
    } else {
      block?.push(line);
    }
  }
  return blocks;
}

/** Runs `script` with bash, as a reader pasting it into a terminal would, pointed at this server. */
async function run(script: string, cwd: string): Promise<string> {
  const { stdout } = await promisify(execFile)('bash', ['-e', '-c', script.replaceAll('http://127.0.0.1:3000', server.url)], {
    cwd,
    env: { ...process.env, ...foreignAws, PORT: new URL(server.url).port },
    maxBuffer: 16 * 1024 * 1024,
    timeout: 120_000,
  });
  return stdout;
}

interface CurlAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The answers of `curl -s -i`, in order (an interim `100 Continue` is not an answer). */
function curlAnswers(output: string): CurlAnswer[] {
  return [...output.replaceAll('HTTP/1.1 100 Continue\r\n\r\n', '').matchAll(/^HTTP\/1\.1 (\d{3})[^\r\n]*\r\n((?:[^\r\n]+\r\n)*)\r\n([^\n]*)/gm)].map((match) => ({
    status: Number(match[1]),
    headers: Object.fromEntries((match[2] as string).split('\r\n').filter(Boolean).map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()])),
    body: match[3] as string,
  }));
}

/** What each `check` line promises in its first argument: `'200 SUCCESS, ...'`, and the headers it names. */
function promises(block: string) {
  return block.split('\n').filter((line) => line.startsWith('check ')).map((line) => {
    const [, status, subCode, rest = ''] = /^check '(\d{3}) ([A-Z0-9_]+)([^']*)'/.exec(line) ?? [];
    if (status === undefined) throw new Error(`the tour's line promises no status and sub_code: ${line}`);
    return { line, status: Number(status), subCode, retryAfter: rest.includes('Retry-After'), replayed: rest.includes('Idempotent-Replayed') };
  });
}

describe('npm start serves its API reference', () => {
  it('/openapi.json: docs/openapi.yaml as JSON, this server first among its servers', async () => {
    const answer = await fetch(`${server.url}/openapi.json`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('application/json');
    const served = (await answer.json()) as { servers: Array<{ url: string }> };
    const written = readDocument() as { servers: Array<{ url: string }> };
    expect(served).toEqual({ ...written, servers: [expect.objectContaining({ url: server.url }), ...written.servers.filter((entry) => !entry.url.startsWith('http://127.0.0.1'))] });
  });

  it('/docs: a page that loads only files of this server, each served', async () => {
    const page = await fetch(`${server.url}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    const loaded = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] as string);
    expect(loaded.sort()).toEqual(['/docs/favicon-32x32.png', '/docs/reference.js', '/docs/swagger-ui-bundle.js', '/docs/swagger-ui.css']);
    const swaggerUi = join(repoRoot, 'node_modules', 'swagger-ui-dist');
    for (const path of loaded) {
      const file = await fetch(`${server.url}${path}`);
      expect(file.status, path).toBe(200);
      const body = Buffer.from(await file.arrayBuffer());
      if (path === '/docs/reference.js') expect(body.toString()).toContain("url: '/openapi.json'");
      else expect(body.equals(readFileSync(join(swaggerUi, path.slice('/docs/'.length)))), path).toBe(true);
    }
    expect((await fetch(`${server.url}/docs/index.html`)).status).toBe(404);
  });

  it('answers another method on them with 405 METHOD_NOT_ALLOWED, and leaves the API routes alone', async () => {
    const answer = await fetch(`${server.url}/docs`, { method: 'POST' });
    expect(answer.status).toBe(405);
    expect(answer.headers.get('allow')).toBe('GET, HEAD');
    expect(await answer.json()).toMatchObject({ code: 405, sub_code: 'METHOD_NOT_ALLOWED' });
  });
});

describe('the README, run as written against npm start', () => {
  it('A check: the selfie is live, answered as shown', async () => {
    const section = '### A check';
    const [block] = codeBlocks('README.md', section);
    const [shown] = codeBlocks('README.md', section, 'json');
    const answer = JSON.parse((await run(block!, workDir)).trim()) as Record<string, unknown>;
    expect(answer).toEqual({ ...(JSON.parse(shown!) as Record<string, unknown>), transaction_id: expect.any(String) });
    expect(answer).toMatchObject({ code: 200, sub_code: 'SUCCESS', data: { is_live: true } });
  }, 60_000);

  it('An upload: npm run upload, then curl reads the result npm start recorded', async () => {
    const [block] = codeBlocks('README.md', '### An upload');
    const lines = (await run(block!, repoRoot)).trim().split('\n');
    const read = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    expect(read).toMatchObject({ key: 'uploads/face.png', status: 'COMPLETED', result: { sub_code: 'SUCCESS', data: { is_live: true } } });
    expect((await server.request('/v1/liveness-results/uploads/face.png')).body).toEqual(read);
  }, 120_000);

  it('A selfie from the user\'s browser: opening a session and reading it', async () => {
    const blocks = codeBlocks('README.md', '### A selfie from the user\'s browser');
    expect(blocks).toHaveLength(2);
    const answers = (await run(blocks.join('\n'), workDir)).split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(answers).toHaveLength(3);
    const [opened, read] = answers as [Record<string, unknown>, Record<string, unknown>];
    expect(opened.capture_url).toBe(`${server.url}/capture#${String(opened.session_id)}`);
    expect(read).toMatchObject({ session_id: opened.session_id, reference: 'case-42', status: 'PENDING' });
    expect((await server.request(`/v1/liveness-sessions/${String(opened.session_id)}`)).body).toMatchObject({ status: 'PENDING' });

    // The capture page's steps, as its script takes them: the session's form, the POST to the bucket.
    const form = (await server.request(`/v1/liveness-sessions/${String(opened.session_id)}/upload`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).body as { url: string; fields: Record<string, string> };
    const upload = new FormData();
    for (const [name, value] of Object.entries(form.fields)) upload.set(name, value);
    upload.set('file', new Blob([readFileSync(join(repoRoot, 'test/fixtures/images/face-480p.jpg'))], { type: 'image/jpeg' }), 'selfie.jpg');
    expect((await fetch(form.url, { method: 'POST', body: upload, headers: { origin: server.url } })).status).toBe(204);
    await expect.poll(async () => ((await server.request(`/v1/liveness-sessions/${String(opened.session_id)}`)).body as { status: string }).status, { timeout: 20_000 }).toBe('COMPLETED');
  }, 60_000);
});

describe('docs/local.md, run as written against npm start', () => {
  it('Checks, one `curl` per sub_code: every line answers the status and sub_code its comment says', async () => {
    const blocks = codeBlocks('docs/local.md', '## Checks, one `curl` per sub_code');
    expect(blocks).toHaveLength(2);
    // The second block uses the first one's `check` and body files, as in one terminal.
    const script = blocks.join('\n');
    const expected = promises(script);
    expect(expected.length).toBeGreaterThan(15);
    const answers = curlAnswers(await run(script, workDir));
    expect(answers.map((answer) => `${answer.status} ${(JSON.parse(answer.body) as { sub_code?: string }).sub_code}`))
      .toEqual(expected.map((line) => `${line.status} ${line.subCode}`));
    answers.forEach((answer, index) => {
      const { line, retryAfter, replayed } = expected[index]!;
      expect(answer.headers['x-liveness-provider'], line).toBe('sandbox');
      if (retryAfter) expect(answer.headers['retry-after'], line).toMatch(/^\d+$/);
      expect(answer.headers['idempotent-replayed'], line).toBe(replayed ? 'true' : undefined);
    });
    for (const answer of answers) await expectDocumented({ method: 'POST', path: CHECK, ...answer });
  }, 120_000);
});

describe('npm start\'s front door, and the shell it ran in', () => {
  it('GET / leads to the API reference', async () => {
    for (const method of ['GET', 'HEAD']) {
      const answer = await fetch(`${server.url}/`, { method, redirect: 'manual' });
      expect(answer.status, method).toBe(302);
      expect(answer.headers.get('location'), method).toBe('/docs');
      expect(answer.headers.get('x-request-id'), method).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect((await fetch(`${server.url}/`)).url).toBe(`${server.url}/docs`);
  });

  it('ran all of it with another account\'s AWS credentials and profile in the shell, never reading them', () => {
    expect(server.output()).toContain("AWS credentials: the shell's (AWS_PROFILE=someone-else, access key AKIA…) are left unused, as nothing here is in AWS");
    expect(existsSync(profileRan)).toBe(false);
  });
});

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What a running `npm start` tells other local tools (`npm run upload`) about itself, in
 * `.local/npm-start/<port>.json`: one file per port, so stacks on other ports (the tests') never
 * answer for the one on $PORT. Removed when the stack stops; a file left by a killed stack is
 * recognised by its process being gone or its URL not answering.
 */
export interface RunningStack {
  pid: number;
  /** e.g. `http://127.0.0.1:3000` */
  url: string;
  /** The embedded S3 server, whose uploads the stack checks; absent when AWS_ENDPOINT_URL_S3 pointed elsewhere. */
  s3: { endpoint: string; bucket: string; uploadPrefix: string } | undefined;
}

const fileOf = (repoRoot: string, port: number) => join(repoRoot, '.local', 'npm-start', `${port}.json`);

export function writeStackState(repoRoot: string, port: number, stack: RunningStack): void {
  mkdirSync(join(repoRoot, '.local', 'npm-start'), { recursive: true });
  writeFileSync(fileOf(repoRoot, port), `${JSON.stringify(stack, null, 2)}\n`);
}

export function removeStackState(repoRoot: string, port: number): void {
  rmSync(fileOf(repoRoot, port), { force: true });
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The stack `npm start` runs on `port`, if one is running and answering. */
export async function findRunningStack(repoRoot: string, port: number): Promise<RunningStack | undefined> {
  let stack: RunningStack;
  try {
    stack = JSON.parse(readFileSync(fileOf(repoRoot, port), 'utf8')) as RunningStack;
  } catch {
    return undefined;
  }
  if (typeof stack.pid !== 'number' || !isAlive(stack.pid)) return undefined;
  try {
    // Any route answers with an x-request-id, an unknown one with a 404 envelope.
    const answer = await fetch(`${stack.url}/`, { signal: AbortSignal.timeout(2000) });
    await answer.body?.cancel();
    return answer.headers.has('x-request-id') ? stack : undefined;
  } catch {
    return undefined;
  }
}

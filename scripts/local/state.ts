import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

const folderOf = (repoRoot: string) => join(repoRoot, '.local', 'npm-start');
const fileOf = (repoRoot: string, port: number) => join(folderOf(repoRoot), `${port}.json`);
/** The port `npm start` listens on when PORT is not set. */
export const DEFAULT_PORT = 3000;

export function writeStackState(repoRoot: string, port: number, stack: RunningStack): void {
  mkdirSync(folderOf(repoRoot), { recursive: true });
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
    // Every answer of npm start carries an x-request-id (`/` leads to its API reference).
    const answer = await fetch(`${stack.url}/`, { redirect: 'manual', signal: AbortSignal.timeout(2000) });
    await answer.body?.cancel();
    return answer.headers.has('x-request-id') ? stack : undefined;
  } catch {
    return undefined;
  }
}

/** Every stack `npm start` runs from this checkout, answering, by port. */
async function runningStacks(repoRoot: string): Promise<Map<number, RunningStack>> {
  let names: string[];
  try {
    names = readdirSync(folderOf(repoRoot));
  } catch {
    names = [];
  }
  const ports = names.map((name) => /^(\d+)\.json$/.exec(name)?.[1]).filter((port) => port !== undefined).map(Number);
  const found = await Promise.all(ports.map(async (port) => [port, await findRunningStack(repoRoot, port)] as const));
  return new Map(found.filter((entry): entry is readonly [number, RunningStack] => entry[1] !== undefined).sort(([a], [b]) => a - b));
}

/** The stack a local tool should use, and why, in words for its user. */
export interface StackChoice {
  stack: RunningStack | undefined;
  why: string;
}

/**
 * The running `npm start` stack a local tool (`npm run upload`) uses: the one on `port` when the
 * user names it (PORT); else the one on the default port, else the only one running. With none,
 * or several and no way to tell, `stack` is undefined and `why` says so; with several the tool
 * should ask for PORT rather than guess.
 */
export async function chooseRunningStack(repoRoot: string, port: number | undefined): Promise<StackChoice & { ambiguous: boolean }> {
  const stacks = await runningStacks(repoRoot);
  const others = (except?: number) => [...stacks.keys()].filter((other) => other !== except);
  const listed = (ports: number[]) => (ports.length === 1 ? `port ${ports[0]}` : `ports ${ports.join(', ')}`);
  if (port !== undefined) {
    const stack = stacks.get(port);
    if (stack !== undefined) return { stack, why: `the npm start stack on PORT=${port}`, ambiguous: false };
    const elsewhere = others(port);
    return {
      stack: undefined,
      why: `no npm start stack answers on PORT=${port}${elsewhere.length === 0 ? '' : ` (one runs on ${listed(elsewhere)}: set PORT to it to use it)`}`,
      ambiguous: false,
    };
  }
  const atDefault = stacks.get(DEFAULT_PORT);
  if (atDefault !== undefined) {
    const elsewhere = others(DEFAULT_PORT);
    return { stack: atDefault, why: `the npm start stack on port ${DEFAULT_PORT}, the default${elsewhere.length === 0 ? '' : ` (others run on ${listed(elsewhere)}: set PORT to choose)`}`, ambiguous: false };
  }
  const [only, ...more] = stacks.values();
  if (only !== undefined && more.length === 0) {
    return { stack: only, why: `the only npm start stack running, on port ${new URL(only.url).port} (PORT is not set, and none runs on ${DEFAULT_PORT})`, ambiguous: false };
  }
  if (only !== undefined) return { stack: undefined, why: `npm start stacks run on ${listed(others())} and PORT does not say which to use`, ambiguous: true };
  return { stack: undefined, why: 'no npm start stack is running from this checkout', ambiguous: false };
}

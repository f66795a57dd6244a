import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chooseRunningStack, DEFAULT_PORT, removeStackState, writeStackState } from '../../../scripts/local/state.ts';

/**
 * Which running `npm start` a local tool (`npm run upload`) uses, from the state files of a
 * checkout: stacks that answer as npm start does, on the ports their files name.
 */
let root: string;
let servers: Server[] = [];

/** A stand-in for npm start on a free port: it answers every request with an x-request-id, as npm start does. */
async function runningStack(portInFile: number): Promise<number> {
  const server = createServer((_request, response) => response.writeHead(302, { location: '/docs', 'x-request-id': 'id' }).end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const { port } = server.address() as { port: number };
  writeStackState(root, portInFile, { pid: process.pid, url: `http://127.0.0.1:${port}`, s3: { endpoint: 'http://127.0.0.1:1', bucket: 'b', uploadPrefix: 'uploads/' } });
  return port;
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'stack-state-'));
});
afterEach(async () => {
  for (const server of servers) await new Promise((resolve) => server.close(resolve));
  servers = [];
  rmSync(join(root, '.local'), { recursive: true, force: true });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('the npm start stack a local tool uses', () => {
  it('with PORT unset and the only stack on another port: that one, saying why', async () => {
    await runningStack(3300);
    const choice = await chooseRunningStack(root, undefined);
    expect(choice.stack?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(choice.why).toBe(`the only npm start stack running, on port ${new URL(choice.stack!.url).port} (PORT is not set, and none runs on ${DEFAULT_PORT})`);
  });

  it('with PORT naming a port where none runs: none, naming the one that does', async () => {
    await runningStack(3300);
    const choice = await chooseRunningStack(root, 3000);
    expect(choice.stack).toBeUndefined();
    expect(choice.why).toBe('no npm start stack answers on PORT=3000 (one runs on port 3300: set PORT to it to use it)');
  });

  it('with PORT unset and several stacks, none on the default port: none, and asks which', async () => {
    await runningStack(3300);
    await runningStack(3400);
    expect(await chooseRunningStack(root, undefined)).toMatchObject({ stack: undefined, ambiguous: true, why: 'npm start stacks run on ports 3300, 3400 and PORT does not say which to use' });
  });

  it('prefers the default port, and the one PORT names', async () => {
    await runningStack(3300);
    const atDefault = await runningStack(DEFAULT_PORT);
    expect((await chooseRunningStack(root, undefined)).stack?.url).toBe(`http://127.0.0.1:${atDefault}`);
    expect((await chooseRunningStack(root, 3300)).why).toBe('the npm start stack on PORT=3300');
  });

  it('ignores a file whose stack is gone', async () => {
    await runningStack(3300);
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    servers = [];
    expect(await chooseRunningStack(root, undefined)).toMatchObject({ stack: undefined, why: 'no npm start stack is running from this checkout' });
    removeStackState(root, 3300);
  });
});

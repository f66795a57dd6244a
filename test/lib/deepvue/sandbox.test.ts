import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeepvueSandbox, startSandbox, type RunningSandbox } from '../../../lib/deepvue/sandbox.ts';
import { fixtureImage, sandboxBody } from '../../support/relay.ts';

/** The sandbox `npm start` relays to without credentials answers with Deepvue's documented bodies. */

let running: RunningSandbox;
let token: string;

async function post(path: string, headers: Record<string, string>, body: string) {
  const answer = await fetch(`${running.baseUrl}${path}`, { method: 'POST', headers, body });
  return { status: answer.status, body: (await answer.json()) as unknown };
}
const authorize = (clientId: string, clientSecret: string) =>
  post('/v1/authorize', { 'content-type': 'application/x-www-form-urlencoded' }, new URLSearchParams({ client_id: clientId, client_secret: clientSecret }).toString());
const check = (image: string, authorization?: string) =>
  post('/v1/liveness-check', { 'content-type': 'application/json', 'x-api-key': 'secret', ...(authorization === undefined ? {} : { authorization }) }, JSON.stringify({ image }));
const url = (outcome: string) => `https://images.example.com/a.jpg?sandbox=${outcome}`;

beforeAll(async () => {
  const sandbox = new DeepvueSandbox({ clients: new Map([['client', 'secret']]), inactiveClients: new Set(['gone']) });
  running = await startSandbox((request, body, response) => sandbox.answer(request, body, response));
  token = ((await authorize('client', 'secret')).body as { access_token: string }).access_token;
});
afterAll(() => running.close());

describe('the sandbox', () => {
  it.each<[string, string, number, Record<string, unknown>]>([
    ['a base64 photograph', fixtureImage('face-480p.jpg').toString('base64'), 200, sandboxBody('liveness-success')],
    ['a URL', url('live'), 200, sandboxBody('liveness-success')],
    ['?sandbox=spoof', url('spoof'), 200, sandboxBody('liveness-success', { data: { is_live: false, score: null } })],
    ['?sandbox=no-face', url('no-face'), 200, sandboxBody('liveness-face-not-detected')],
    ['?sandbox=invalid-url', url('invalid-url'), 422, sandboxBody('liveness-invalid-url')],
    ['?sandbox=server-error', url('server-error'), 500, sandboxBody('liveness-internal-server-error')],
    ['text that is not base64', 'not base64!', 422, sandboxBody('liveness-invalid-base64')],
  ])('answers %s with the documented body, timestamp null and a fresh transaction_id', async (_, image, status, body) => {
    expect(await check(image, `Bearer ${token}`)).toEqual({ status, body });
  });

  it('refuses a check without a token, or with one it never issued, with the documented 401 bodies', async () => {
    expect(await check(url('live'))).toEqual({ status: 401, body: { detail: 'Not authenticated' } });
    expect(await check(url('live'), 'Bearer forged')).toEqual({ status: 401, body: { detail: 'Not a valid token' } });
  });

  it('refuses an inactive client and wrong credentials at authorize with the documented bodies', async () => {
    expect(await authorize('gone', 'secret')).toEqual({ status: 400, body: { detail: 'Inactive client_id' } });
    expect(await authorize('client', 'wrong')).toEqual({ status: 401, body: { detail: 'Not authenticated' } });
  });
});

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ReplayGuard, type PicturePixels } from '../../../lib/replay/guard.ts';
import { perceptualHash, probeKeys } from '../../../lib/replay/matching.ts';
import { DigestStore } from '../../../lib/replay/store.ts';
import { createTable, localDynamoConfig, useDynalite } from '../../support/dynalite.ts';
import { decodeJpeg } from '../../support/pictures.ts';

/**
 * One check's replay inspection on dynalite, counting what it costs: the table requests made and
 * the pixels decoded. The same bytes sent again are known from the SHA-256 alone.
 */
const dynalite = useDynalite();
let table = '';
let tables = 0;
let client: DynamoDBClient;
const requests: string[] = [];

beforeAll(() => {
  client = new DynamoDBClient(localDynamoConfig(dynalite.endpoint));
  client.middlewareStack.add(
    (next, context) => async (args) => {
      requests.push(context.commandName ?? '');
      return next(args);
    },
    { step: 'initialize' },
  );
});
afterAll(() => client.destroy());
beforeEach(async () => {
  tables += 1;
  table = `liveness-replay-guard-test-${tables}`;
  await createTable(dynalite.endpoint, table, true);
  requests.length = 0;
});

const { width, height, data } = decodeJpeg(Buffer.from(await import('node:fs').then((fs) => fs.readFileSync(new URL('../../fixtures/images/face-480p.jpg', import.meta.url)))));
const SHA256 = 'a'.repeat(64);

/** The photo's pixels, decoded at most once as a check's are (lib/check/pixels.ts), counting the decodes. */
function countedPixels(): { pixels: PicturePixels; decodes: () => number } {
  let decoded: ReturnType<PicturePixels> | undefined;
  let decodes = 0;
  return {
    pixels: async () => {
      decoded ??= (async () => {
        decodes += 1;
        return { ok: true, pixels: { width, height, data, orientation: 1 } } as const;
      })();
      return decoded;
    },
    decodes: () => decodes,
  };
}

describe.each(['flag', 'refuse'] as const)('REPLAY_POLICY=%s, a check', (policy) => {
  const guard = () => new ReplayGuard({ store: new DigestStore({ client, tableName: table, windowDays: 30 }), policy });

  it('of new bytes decodes them once and reads the SHA-256 key and every index key', async () => {
    const { pixels, decodes } = countedPixels();

    const seen = await guard().inspect(SHA256, pixels, 'first').seen;

    expect({ seen, decodes: decodes() }).toEqual({ seen: undefined, decodes: 1 });
    // The SHA-256 key alone first, then again with the index keys.
    const indexKeys = probeKeys(perceptualHash({ width, height, data, orientation: 1 })).length;
    expect(requests.filter((name) => name === 'QueryCommand')).toHaveLength(2 + indexKeys);
  });

  it(`of bytes checked before is known from the SHA-256 alone: ${policy === 'refuse' ? 'nothing decoded' : 'decoded only (beside the upstream call), not hashed'}, one write and one read`, async () => {
    await guard().inspect(SHA256, countedPixels().pixels, 'first').seen;
    requests.length = 0;
    const { pixels, decodes } = countedPixels();

    const seen = await guard().inspect(SHA256, pixels, 'resent').seen;

    expect(seen).toMatchObject({ kind: 'exact' });
    // With `flag` the table waits for the decode, so that the SDK's work never delays the upstream request.
    expect(decodes()).toBe(policy === 'refuse' ? 0 : 1);
    expect(requests).toEqual(['BatchWriteItemCommand', 'QueryCommand']);
  });
});

import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { indexKeys, isSimilar, perceptualHash, probeKeys } from '../../../lib/replay/matching.ts';
import { DigestErasure } from '../../../lib/replay/erasure.ts';
import { DigestStore, QUERY_CONCURRENCY, type ImageDigests } from '../../../lib/replay/store.ts';
import { createTable, localDynamoConfig, useDynalite } from '../../support/dynalite.ts';
import { cropped, decodeJpeg, encodeJpeg, type Picture } from '../../support/pictures.ts';
import { fixtureImage } from '../../support/relay.ts';

/**
 * The digest store on dynalite, with the perceptual hashes of real photographs and of copies of
 * them: found again exactly and as copies, never as someone else's photograph, never as the
 * check's own earlier attempt; erased with the image; gone once the window has passed.
 */
const dynalite = useDynalite();
let client: DynamoDBClient;
let store: DigestStore;
let table = '';
let sequence = 0;

beforeAll(() => {
  client = new DynamoDBClient(localDynamoConfig(dynalite.endpoint));
});
afterAll(() => client.destroy());
// Each test has a table of its own: what one stores is never another's first check.
beforeEach(async () => {
  sequence += 1;
  table = `liveness-replay-test-${sequence}`;
  await createTable(dynalite.endpoint, table, true);
  store = new DigestStore({ client, tableName: table, windowDays: 30 });
});

const oriented = (picture: Picture, orientation = 1) => ({ ...picture, orientation });
const FACE = decodeJpeg(fixtureImage('face-480p.jpg'));

/** `picture` without 5 % of its width and height at every side, re-encoded at quality 60. */
const croppedCopy = (picture: Picture): Picture => decodeJpeg(encodeJpeg(cropped(picture, 0.05, 0.05, 0.05, 0.05), 60));

/** Digests of a check of `picture` whose image bytes hash to a fresh SHA-256, unless given. */
function digests(picture: Picture, sha256?: string, orientation = 1): ImageDigests {
  sequence += 1;
  return { sha256: sha256 ?? sequence.toString(16).padStart(64, '0'), perceptual: perceptualHash(oriented(picture, orientation)), identity: `check-${sequence}` };
}

describe('the digests of a photograph', () => {
  it('are found again exactly, naming the first check and its answer', async () => {
    const firstSeen = new Date(Date.now() - 2 * 24 * 60 * 60 * 1000);
    const first = digests(FACE);
    await store.add(first, firstSeen);
    await store.noteAnswer(first, 'txn-first');
    const second = digests(FACE, first.sha256);
    await store.add(second, new Date(Date.now() - 24 * 60 * 60 * 1000));

    const seen = await store.find({ ...digests(FACE, first.sha256), perceptual: undefined });

    expect(seen).toEqual({ kind: 'exact', first_transaction_id: 'txn-first', first_seen_at: firstSeen.toISOString() });
  });

  it('are found for a cropped, re-encoded copy as similar', async () => {
    const original = digests(FACE);
    await store.add(original, new Date());
    await store.noteAnswer(original, 'txn-original');
    const copy = digests(croppedCopy(FACE));
    expect(copy.perceptual).not.toBe(original.perceptual);
    expect(isSimilar(copy.perceptual ?? '', original.perceptual ?? '')).toBe(true);

    expect(await store.find(copy)).toMatchObject({ kind: 'similar', first_transaction_id: 'txn-original' });
  });

  it('are not found for other photographs, of the same person or of others', async () => {
    await store.add(digests(decodeJpeg(fixtureImage('two-faces.jpg'))), new Date());
    await store.add(digests(decodeJpeg(fixtureImage('grace-hopper.jpg'))), new Date());

    expect(await store.find(digests(decodeJpeg(fixtureImage('partial-face.jpg'))))).toBeUndefined();
    expect(await store.find(digests(decodeJpeg(fixtureImage('rocket.jpg'))))).toBeUndefined();
  });

  it('are not a replay of the check that stored them (its retry under the same identity)', async () => {
    const check = digests(decodeJpeg(fixtureImage('spoof-printed-photo.jpg')), undefined, 6);
    await store.add(check, new Date());
    await store.add(check, new Date());

    expect(await store.find(check)).toBeUndefined();
    expect(await store.find({ ...check, identity: 'another check' })).toMatchObject({ kind: 'exact', first_transaction_id: null });
  });

  it('are not found once the window has passed, though TTL has not removed them yet', async () => {
    const old = digests(decodeJpeg(fixtureImage('live-selfie-exif-rotated.jpg')), undefined, 6);
    await store.add(old, new Date(Date.now() - 31 * 24 * 60 * 60 * 1000));

    expect(await store.find({ ...old, identity: 'today' })).toBeUndefined();
  });

  it('are taken back for the one check that withdraws them, and no other check of the image', async () => {
    const first = digests(FACE);
    await store.add(first, new Date());
    const refused = { ...digests(FACE, first.sha256), identity: 'a refused check' };
    await store.add(refused, new Date());
    const before = await items();

    await store.withdraw(refused);

    expect(before - (await items())).toBe(indexKeys(refused.perceptual ?? '').length + 1);
    expect(await store.find({ ...refused, identity: 'a third check' })).toMatchObject({ kind: 'exact' });
    await store.withdraw(first);
    expect(await store.find({ ...refused, identity: 'a third check' })).toBeUndefined();
    expect(await items()).toBe(0);
  });

  it('are erased with the image, every check of it, and counted; another image’s stay', async () => {
    const erasure = new DigestErasure({ client, tableName: table });
    const first = digests(decodeJpeg(fixtureImage('two-faces.jpg')));
    const other = digests(FACE);
    await store.add(first, new Date());
    await store.add({ ...first, identity: 'a second check of the same bytes' }, new Date());
    await store.add({ ...digests(FACE), perceptual: undefined, sha256: first.sha256.replace(/^./, 'f') }, new Date());
    await store.add(other, new Date());
    const before = await items();

    expect(await erasure.erase([first.sha256])).toBe(4);

    const left = await items();
    expect(before - left).toBe(2 * (indexKeys(first.perceptual ?? '').length + 1));
    expect(await store.find({ ...first, identity: 'after the erasure' })).toBeUndefined();
    expect(await store.find({ ...other, identity: 'after the erasure' })).toMatchObject({ kind: 'exact' });
    expect(await erasure.erase([first.sha256])).toBe(0);
  });
});

describe('the replay table', () => {
  it('holds small items, none with the whole perceptual hash: one write unit each', async () => {
    const image = digests(FACE);
    await store.add(image, new Date());
    await store.noteAnswer(image, 'txn-0123456789abcdef0123456789abcdef');

    const { Items = [] } = await client.send(new ScanCommand({ TableName: table }));
    expect(Items).toHaveLength(indexKeys(image.perceptual ?? '').length + 1);
    for (const item of Items) {
      // DynamoDB's item size: attribute names and values (a list's elements one byte each more, a number about half its digits).
      const size = Object.entries(item).reduce((sum, [name, value]) => {
        const bytes = value.S !== undefined ? Buffer.byteLength(value.S) : value.B !== undefined ? value.B.length : value.N !== undefined ? value.N.length : (value.L ?? []).reduce((list, element) => list + 1 + Buffer.byteLength(element.S ?? ''), 3);
        return sum + name.length + bytes;
      }, 0);
      expect(size).toBeLessThan(1024);
      expect(Object.values(item).every((value) => (value.S?.length ?? 0) <= 'exact#'.length + 64)).toBe(true);
    }
  });

  it('is read at most QUERY_CONCURRENCY Queries at a time, one a key', async () => {
    const counted = new DynamoDBClient(localDynamoConfig(dynalite.endpoint));
    let inFlight = 0;
    let most = 0;
    let queries = 0;
    counted.middlewareStack.add(
      (next) => async (args) => {
        inFlight += 1;
        queries += 1;
        most = Math.max(most, inFlight);
        try {
          return await next(args);
        } finally {
          inFlight -= 1;
        }
      },
      { step: 'finalizeRequest' },
    );
    const image = digests(FACE);

    await new DigestStore({ client: counted, tableName: table, windowDays: 30 }).find(image);

    counted.destroy();
    expect(queries).toBe(probeKeys(image.perceptual ?? '').length + 1);
    expect(queries).toBeGreaterThan(QUERY_CONCURRENCY);
    expect(most).toBe(QUERY_CONCURRENCY);
  });
});

async function items(): Promise<number> {
  const { Count = 0 } = await client.send(new ScanCommand({ TableName: table, Select: 'COUNT' }));
  return Count;
}

import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { indexKeys, perceptualDistance } from '../../../lib/replay/bands.ts';
import { perceptualHash } from '../../../lib/replay/perceptual.ts';
import { DigestStore, type ImageDigests } from '../../../lib/replay/store.ts';
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

/** `picture` without 5 % of its width on the left and 5 % of its height at the top, re-encoded at quality 60. */
const croppedCopy = (picture: Picture): Picture => decodeJpeg(encodeJpeg(cropped(picture, 0.05, 0.05, 0, 0), 60));

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
    expect(perceptualDistance(copy.perceptual ?? '', original.perceptual ?? '')).toBeGreaterThan(0);

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

  it('are erased with the image, every check of it, and counted', async () => {
    const first = digests(decodeJpeg(fixtureImage('two-faces.jpg')));
    await store.add(first, new Date());
    await store.add({ ...first, identity: 'a second check of the same bytes' }, new Date());
    const before = await items();

    expect(await store.erase([first.sha256])).toBe(4);

    const left = await items();
    expect(before - left).toBe(2 * (indexKeys(first.perceptual ?? '').length + 1));
    expect(await store.find({ ...first, identity: 'after the erasure' })).toBeUndefined();
    expect(await store.erase([first.sha256])).toBe(0);
  });
});

async function items(): Promise<number> {
  const { Count = 0 } = await client.send(new ScanCommand({ TableName: table, Select: 'COUNT' }));
  return Count;
}

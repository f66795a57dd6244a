import type { DynamoDBClient, DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import pLimit, { type LimitFunction } from 'p-limit';
import { createQuickTableClient, Table } from '../platform/dynamo.ts';
import { digestDeletions, EXACT, NEAR, partition, storedIdentity } from './items.ts';
import { indexEntries, indexKeys, isSimilar, probeKeys } from './matching.ts';

/** What a check knows of the image it checks: the digests stored for it, and whose check it is. */
export interface ImageDigests {
  /** SHA-256 of the decoded bytes, lowercase hex. */
  sha256: string;
  /** The perceptual hash (lowercase hex); undefined when the pixels were not decoded (over the limits, or no decoder). */
  perceptual: string | undefined;
  /**
   * Who the check is, for its own retries: an Idempotency-Key, an object version, a session. A
   * digest stored under the same identity is never a replay of it.
   */
  identity: string;
}

/** The first check of an image seen before. */
export interface SeenBefore {
  kind: 'exact' | 'similar';
  /** The transaction_id its answer carried; null while that check has not answered yet (or its answer could not be noted). */
  first_transaction_id: string | null;
  first_seen_at: string;
}

export interface DigestStoreOptions {
  client: DynamoDBClient;
  /** REPLAY_TABLE: partition key `pk`, sort key `sk` (strings), TTL attribute `expires_at`. */
  tableName: string;
  /** REPLAY_WINDOW_DAYS: digests expire this many days after their check, through the TTL. */
  windowDays: number;
}

/**
 * Queries of the replay table in flight at once, per store (a container has one). A lookup reads
 * 57 keys (the exact one and PROBE_KEYS index keys): sent all at once, they would wait in the HTTP agent's queue (50 sockets by default),
 * where the SDK's connection and request timeouts already run, and open as many TLS connections as
 * there are sockets on a cold container; past this many, more at once save no time, as signing
 * each request takes the event loop about as long as a round trip to DynamoDB takes to overlap it
 * (bench/replay.ts measures it).
 */
export const QUERY_CONCURRENCY = 32;

/**
 * The replay table's own client, quick to give up (a slow table delays a check by a second or two
 * at most, then is passed over) and with a pool of its own, a socket for each Query in flight and
 * two for the writes: a lookup's burst of Queries never waits for, nor holds up, the token table,
 * the rate limiter or the Idempotency-Key records, which livenessCheck's other client serves.
 */
export const createReplayTableClient = (config: DynamoDBClientConfig = {}): DynamoDBClient => createQuickTableClient(config, QUERY_CONCURRENCY + 2);

/**
 * The digests of the images checked in the last REPLAY_WINDOW_DAYS, in REPLAY_TABLE, each check's
 * under the SHA-256 of its image (`pk = exact#<sha256>`) and under each index key of its
 * perceptual hash (`pk = near#<key>`, lib/replay/matching.ts), with `sk` the hash of the check's
 * identity. Items are small, so that writes take one write unit each and a crowded key reads
 * cheaply:
 *
 * - `exact#…` (about 350 bytes): `seen_at` (ISO-8601), `transaction_id` (noted once the check has
 *   answered), `keys` (the index keys written, for erasure: ./erasure.ts), `expires_at` (TTL);
 * - `near#…` (about 230 bytes, 750 at most): `windows` (the key's candidate, binary: the whole
 *   frame's 32 bytes and those of the inner windows of the key's code), `sha256`, `seen_at`,
 *   `expires_at`. The whole hash (1088 hex digits) is stored nowhere.
 *
 * Finding an image is a Query per key, never a scan: the exact key read consistently (of two
 * checks of the same bytes at once, each sees the other), the probe keys eventually consistently
 * (half the read units; two different copies sent within DynamoDB's replication lag of each other,
 * usually under a second, may both pass as first), at most QUERY_CONCURRENCY at a time. Only
 * digests are stored.
 *
 * @example
 * const store = new DigestStore({ client: createReplayTableClient(), tableName: 'liveness-replay', windowDays: 30 });
 * await store.add(digests, new Date());
 * const seen = await store.find(digests); // undefined, or the first check of the same image
 */
export class DigestStore {
  readonly #table: Table;
  readonly #windowSeconds: number;
  readonly #queries: LimitFunction = pLimit(QUERY_CONCURRENCY);

  constructor(options: DigestStoreOptions) {
    this.#table = new Table({ client: options.client, tableName: options.tableName, removeUndefinedValues: true });
    this.#windowSeconds = options.windowDays * 24 * 60 * 60;
  }

  /** The first check of the same image (exact), or else of a similar picture, by another identity, still in the window. */
  async find(image: ImageDigests): Promise<SeenBefore | undefined> {
    const own = storedIdentity(image.identity);
    const now = Math.floor(Date.now() / 1000);
    const live = (item: Record<string, unknown>) => item.sk !== own && typeof item.expires_at === 'number' && item.expires_at > now;
    const { perceptual } = image;
    const probes = perceptual === undefined ? [] : probeKeys(perceptual);
    const [exact, ...near] = await Promise.all([
      this.#queries(() => this.#table.query(partition(`${EXACT}${image.sha256}`))),
      ...probes.map((key) => this.#queries(() => this.#table.query({ ...partition(`${NEAR}${key}`), ConsistentRead: false }))),
    ]);
    const first = earliest((exact ?? []).filter(live));
    if (first !== undefined) return seenBefore('exact', first);
    if (perceptual === undefined) return undefined;
    const similar = earliest(near.flat().filter((item) => live(item) && item.windows instanceof Uint8Array && isSimilar(item.windows, perceptual)));
    if (similar === undefined) return undefined;
    // The transaction id is noted on the exact item only: one write once the check has answered.
    const noted = await this.#exactItem(String(similar.sha256), String(similar.sk));
    return seenBefore('similar', { ...similar, transaction_id: noted?.transaction_id });
  }

  /** Stores the image's digests for this check (again, under the same identity, for a retry). */
  async add(image: ImageDigests, seenAt: Date): Promise<void> {
    const sk = storedIdentity(image.identity);
    const common = { sk, seen_at: seenAt.toISOString(), expires_at: Math.floor(seenAt.getTime() / 1000) + this.#windowSeconds };
    const entries = image.perceptual === undefined ? [] : indexEntries(image.perceptual);
    const keys = entries.map(({ key }) => `${NEAR}${key}`);
    await this.#table.batchWrite([
      { put: { pk: `${EXACT}${image.sha256}`, ...common, keys: keys.length > 0 ? keys : undefined } },
      ...entries.map(({ key, candidate }) => ({ put: { pk: `${NEAR}${key}`, ...common, windows: candidate, sha256: image.sha256 } })),
    ]);
  }

  /** Takes back what `add` stored for this check: an image refused, or never answered, was not checked. */
  async withdraw(image: ImageDigests): Promise<void> {
    const sk = storedIdentity(image.identity);
    await this.#table.batchWrite([`${EXACT}${image.sha256}`, ...nearKeys(image)].map((pk) => ({ delete: { pk, sk } })));
  }

  /**
   * Takes back one check's digests of the image with this SHA-256, knowing only who the check
   * was: what an upload erased while it was checked leaves, which no erasure could find (its
   * result, which names the image, is never stored).
   */
  async forget(sha256: string, identity: string): Promise<void> {
    const item = await this.#exactItem(sha256, storedIdentity(identity));
    if (item !== undefined) await this.#table.batchWrite(digestDeletions(item));
  }

  /** One check's exact item (`sk` as stored), read consistently. */
  async #exactItem(sha256: string, sk: string): Promise<Record<string, unknown> | undefined> {
    const [item] = await this.#table.query({
      KeyConditionExpression: 'pk = :pk AND sk = :sk',
      ExpressionAttributeValues: { ':pk': `${EXACT}${sha256}`, ':sk': sk },
      ConsistentRead: true,
    });
    return item;
  }

  /** Notes the transaction_id the check answered with, for later checks of the same image to name. */
  async noteAnswer(image: ImageDigests, transactionId: string): Promise<void> {
    await this.#table.update({
      Key: { pk: `${EXACT}${image.sha256}`, sk: storedIdentity(image.identity) },
      UpdateExpression: 'SET transaction_id = :id',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':id': transactionId },
    });
  }
}

const nearKeys = ({ perceptual }: ImageDigests): string[] => (perceptual === undefined ? [] : indexKeys(perceptual).map((key) => `${NEAR}${key}`));

const earliest = (items: Array<Record<string, unknown>>): Record<string, unknown> | undefined =>
  items.reduce<Record<string, unknown> | undefined>((first, item) => (first === undefined || String(item.seen_at) < String(first.seen_at) ? item : first), undefined);

const seenBefore = (kind: SeenBefore['kind'], item: Record<string, unknown>): SeenBefore => ({
  kind,
  first_transaction_id: typeof item.transaction_id === 'string' ? item.transaction_id : null,
  first_seen_at: String(item.seen_at),
});

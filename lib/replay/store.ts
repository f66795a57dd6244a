import { createHash } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Table } from '../platform/dynamo.ts';
import { indexKeys, isSimilar, probeKeys } from './bands.ts';

/** What a check knows of the image it checks: the digests stored for it, and whose check it is. */
export interface ImageDigests {
  /** SHA-256 of the decoded bytes, lowercase hex. */
  sha256: string;
  /** The perceptual hash (lib/replay/perceptual.ts); undefined when the pixels were not decoded (over the limits, or no decoder). */
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

const EXACT = 'exact#';
const BAND = 'band#';

/** The identity as stored: a hash, so that no object key or Idempotency-Key is readable in the table. */
const storedIdentity = (identity: string): string => createHash('sha256').update(identity).digest('hex').slice(0, 32);

/**
 * The digests of the images checked in the last REPLAY_WINDOW_DAYS, in REPLAY_TABLE, each check's
 * under the SHA-256 of its image (`pk = exact#<sha256>`) and under each index key of its perceptual
 * hash (`pk = band#<key>`, lib/replay/bands.ts), with `sk` the hash of the check's identity:
 *
 * - `exact#…` items: `seen_at` (ISO-8601), `transaction_id` (noted once the check has answered),
 *   `perceptual` and `bands` (the index keys written, for erasure), `expires_at` (TTL);
 * - `band#…` items: `perceptual`, `sha256`, `seen_at`, `expires_at`.
 *
 * Finding an image is a Query per key (the exact key and each probe key), never a scan: a stored
 * copy of the image shares a key with the image's probe keys. Only digests are stored.
 *
 * @example
 * const store = new DigestStore({ client, tableName: 'liveness-replay', windowDays: 30 });
 * const seen = await store.find(digests); // undefined, or the first check of the same image
 */
export class DigestStore {
  readonly #table: Table;
  readonly #windowSeconds: number;

  constructor(options: DigestStoreOptions) {
    this.#table = new Table({ client: options.client, tableName: options.tableName, removeUndefinedValues: true });
    this.#windowSeconds = options.windowDays * 24 * 60 * 60;
  }

  /** The first check of the same image (exact), or else of a copy of the picture (similar), by another identity. */
  async find(image: ImageDigests): Promise<SeenBefore | undefined> {
    const own = storedIdentity(image.identity);
    const now = Math.floor(Date.now() / 1000);
    const live = (item: Record<string, unknown>) => item.sk !== own && typeof item.expires_at === 'number' && item.expires_at > now;
    const bands = image.perceptual === undefined ? [] : probeKeys(image.perceptual);
    const [exact, ...banded] = await Promise.all([
      this.#table.query(partition(`${EXACT}${image.sha256}`)),
      ...bands.map((band) => this.#table.query(partition(`${BAND}${band}`))),
    ]);
    const first = earliest((exact ?? []).filter(live));
    if (first !== undefined) return seenBefore('exact', first);
    const perceptual = image.perceptual;
    if (perceptual === undefined) return undefined;
    const similar = earliest(
      banded.flat().filter((item) => live(item) && typeof item.perceptual === 'string' && isSimilar(item.perceptual, perceptual)),
    );
    if (similar === undefined) return undefined;
    // The transaction id is noted on the exact item only: one write once the check has answered.
    const [noted] = await this.#table.query({
      KeyConditionExpression: 'pk = :pk AND sk = :sk',
      ExpressionAttributeValues: { ':pk': `${EXACT}${String(similar.sha256)}`, ':sk': similar.sk },
    });
    return seenBefore('similar', { ...similar, transaction_id: noted?.transaction_id });
  }

  /** Stores the image's digests for this check (again, under the same identity, for a retry). */
  async add(image: ImageDigests, seenAt: Date): Promise<void> {
    const sk = storedIdentity(image.identity);
    const common = { sk, seen_at: seenAt.toISOString(), expires_at: Math.floor(seenAt.getTime() / 1000) + this.#windowSeconds };
    const bands = image.perceptual === undefined ? [] : indexKeys(image.perceptual).map((band) => `${BAND}${band}`);
    await this.#table.batchWrite([
      { put: { pk: `${EXACT}${image.sha256}`, ...common, perceptual: image.perceptual, bands: bands.length > 0 ? bands : undefined } },
      ...bands.map((pk) => ({ put: { pk, ...common, perceptual: image.perceptual, sha256: image.sha256 } })),
    ]);
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

  /** Erases every check's digests of the images with these SHA-256s; returns how many digests (exact and perceptual) were erased. */
  async erase(sha256s: readonly string[]): Promise<number> {
    let erased = 0;
    for (const sha256 of new Set(sha256s)) {
      const items = await this.#table.query(partition(`${EXACT}${sha256}`));
      await this.#table.batchWrite(
        items.flatMap((item) => [
          ...(Array.isArray(item.bands) ? (item.bands as string[]) : []).map((pk) => ({ delete: { pk, sk: String(item.sk) } })),
          { delete: { pk: String(item.pk), sk: String(item.sk) } },
        ]),
      );
      erased += items.reduce((sum, item) => sum + (typeof item.perceptual === 'string' ? 2 : 1), 0);
    }
    return erased;
  }
}

const partition = (pk: string) => ({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk } });

const earliest = (items: Array<Record<string, unknown>>): Record<string, unknown> | undefined =>
  items.reduce<Record<string, unknown> | undefined>((first, item) => (first === undefined || String(item.seen_at) < String(first.seen_at) ? item : first), undefined);

const seenBefore = (kind: SeenBefore['kind'], item: Record<string, unknown>): SeenBefore => ({
  kind,
  first_transaction_id: typeof item.transaction_id === 'string' ? item.transaction_id : null,
  first_seen_at: String(item.seen_at),
});

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Table } from '../platform/dynamo.ts';
import { digestDeletions, EXACT, partition } from './items.ts';

/**
 * Erasure of the digests of an image (lib/retention/ lists it among the places a check leaves
 * something): every check's exact item under the image's SHA-256 and the near items it lists.
 * Its own module, apart from the store, so that what erases holds no more rights on the table
 * than finding and deleting items by key.
 *
 * @example
 * const erased = await new DigestErasure({ client, tableName: 'liveness-replay' }).erase([sha256]);
 */
export class DigestErasure {
  readonly #table: Table;

  constructor(options: { client: DynamoDBClient; tableName: string }) {
    this.#table = new Table(options);
  }

  /**
   * Erases every check's digests of the images with these SHA-256s (the same bytes are the same
   * picture of the same person, whoever sent them); returns how many digests (exact and
   * perceptual) were erased. Safe to repeat: what is gone is not counted again.
   */
  async erase(sha256s: readonly string[]): Promise<number> {
    let erased = 0;
    for (const sha256 of new Set(sha256s)) {
      const items = await this.#table.query(partition(`${EXACT}${sha256}`));
      await this.#table.batchWrite(items.flatMap(digestDeletions));
      // A check's digests: its SHA-256, and its perceptual hash when it had one (stored as the near items its `keys` list).
      erased += items.reduce((sum, item) => sum + (Array.isArray(item.keys) ? 2 : 1), 0);
    }
    return erased;
  }
}

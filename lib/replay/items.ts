import { createHash } from 'node:crypto';

/**
 * How the replay table (REPLAY_TABLE) lays out a check's digests, shared by the store that writes
 * and reads them (./store.ts) and the erasure that deletes them (./erasure.ts): partition keys
 * `exact#<sha256>` and `near#<index key>`, sort key `sk` the hash of the check's identity; the
 * exact item lists the `keys` its near items were written under.
 */
export const EXACT = 'exact#';
export const NEAR = 'near#';

/** The identity as stored: a hash, so that no object key or Idempotency-Key is readable in the table. */
export const storedIdentity = (identity: string): string => createHash('sha256').update(identity).digest('hex').slice(0, 32);

export const partition = (pk: string) => ({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk }, ConsistentRead: true });

/** The deletes that take back one check's digests, read from its exact item: the near items its `keys` list, and the item itself. */
export function digestDeletions(exactItem: Record<string, unknown>): Array<{ delete: { pk: string; sk: string } }> {
  const sk = String(exactItem.sk);
  const keys = Array.isArray(exactItem.keys) ? (exactItem.keys as unknown[]).map(String) : [];
  return [String(exactItem.pk), ...keys].map((pk) => ({ delete: { pk, sk } }));
}

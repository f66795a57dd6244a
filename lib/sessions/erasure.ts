import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Table } from '../platform/dynamo.ts';
import { sessionItemKey, type CheckedImage } from './session.ts';

/**
 * Liveness sessions as an erasure sees them, apart from the session store so that only the
 * erasure's role may delete one: what is held, whatever the session's status or retention (an
 * expired session is held until TTL removes it), and its deletion.
 *
 * @example
 * const sessions = new SessionErasure({ client: new DynamoDBClient({}), tableName });
 * if (await sessions.erase(ref)) console.log('the session is gone');
 */
export class SessionErasure {
  readonly #table: Table;

  constructor(options: { client: DynamoDBClient; tableName: string }) {
    this.#table = new Table({ client: options.client, tableName: options.tableName });
  }

  /** The session's item as held, with the image version it named; undefined when there is none. */
  async held(ref: string): Promise<{ image: CheckedImage | undefined } | undefined> {
    const item = await this.#table.get(sessionItemKey(ref));
    return item === undefined ? undefined : { image: item.image as CheckedImage | undefined };
  }

  /**
   * Deletes the session, whatever its status: an upload arriving later finds no session to claim,
   * and a check still running none to settle, so no result is ever stored there. Returns what
   * was deleted (with the image version that claimed it, as it was at that moment), or undefined
   * when there was none.
   */
  async erase(ref: string): Promise<{ image: CheckedImage | undefined } | undefined> {
    const before = await this.#table.delete({ Key: sessionItemKey(ref) });
    return before === undefined || Object.keys(before).length === 0 ? undefined : { image: before.image as CheckedImage | undefined };
  }
}

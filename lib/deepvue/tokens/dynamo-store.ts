import type { DynamoDBClient, DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import type { UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { createQuickTableClient, hashedKey, Table } from '../../platform/dynamo.ts';
import { describeError } from '../../platform/logger.ts';
import type { AccessToken } from './cache.ts';

/** A token as the shared tier holds it; `version` counts the renewals stored under its item. */
export interface StoredToken extends AccessToken {
  version: number;
}

/** What the shared tier holds for one client. */
export interface TokenRecord {
  token: StoredToken | undefined;
  /** Epoch milliseconds until which a renewal lease is held; undefined when no lease was ever taken or it was released. */
  leaseUntil: number | undefined;
}

/**
 * The shared tier of the token cache, keyed by `subject` (which upstream and which client_id the
 * token belongs to). Methods resolve `false`/`undefined` when a condition did not hold (the
 * protocol's normal races) and throw TokenStoreUnavailable on any fault of the store itself.
 */
export interface TokenStore {
  read(subject: string): Promise<TokenRecord>;
  /**
   * Takes the renewal lease for `holder` until `leaseUntil`, but only if no other lease is live at
   * `now` and no token is stored that is fresh at `now`; false when either holds.
   */
  takeLease(subject: string, holder: string, now: number, leaseUntil: number): Promise<boolean>;
  /** Stores a renewed token and releases the lease, only while `holder` still holds it; the new version, or undefined. */
  saveToken(subject: string, holder: string, token: AccessToken): Promise<number | undefined>;
  /** Gives the lease up early (its renewal failed), only while `holder` still holds it. */
  releaseLease(subject: string, holder: string): Promise<void>;
  /** Removes the token only while it is still `value`; true when this call removed it. */
  removeToken(subject: string, value: string): Promise<boolean>;
}

/** The store failed (throttled, timed out, unreachable, table missing, ...): the cache falls back to memory. */
export class TokenStoreUnavailable extends Error {
  override readonly name = 'TokenStoreUnavailable';
}

/**
 * A DynamoDB client for the token table (tokens and the rate limiter) and the API's idempotency
 * records, quick to give up: a check that finds the table dead must still have time for a direct
 * authorize and the upstream call.
 */
export const createTokenTableClient = (config: DynamoDBClientConfig = {}): DynamoDBClient => createQuickTableClient(config);

const tokenItemKey = (subject: string): string => hashedKey('token', subject);

/**
 * The token table (partition key `pk`, string), one item per client:
 * `pk = token#<sha256(subject)>`, `access_token`, `token_expires_ms`, `renew_at_ms`, `version`,
 * `lease_holder` + `lease_until_ms` while a renewal is under way, and `expires_at` (epoch
 * seconds) for DynamoDB's TTL. TTL only tidies up: every read checks the times itself.
 *
 * @example
 * const store = new DynamoTokenStore({ client: createTokenTableClient(), tableName: process.env.TOKEN_TABLE! });
 */
export class DynamoTokenStore implements TokenStore {
  readonly #table: Table;

  constructor(options: { client: DynamoDBClient; tableName: string }) {
    this.#table = new Table(options);
  }

  async read(subject: string): Promise<TokenRecord> {
    try {
      return parseRecord(await this.#table.get({ pk: tokenItemKey(subject) }));
    } catch (error) {
      throw unavailable(error);
    }
  }

  takeLease(subject: string, holder: string, now: number, leaseUntil: number): Promise<boolean> {
    return this.#update({
      Key: { pk: tokenItemKey(subject) },
      // A lease-only item must not outlive its lease for long; a saved token sets its own TTL.
      UpdateExpression: 'SET lease_holder = :holder, lease_until_ms = :until, expires_at = :ttl',
      ConditionExpression:
        '(attribute_not_exists(lease_until_ms) OR lease_until_ms <= :now) AND (attribute_not_exists(access_token) OR renew_at_ms <= :now)',
      ExpressionAttributeValues: { ':holder': holder, ':until': leaseUntil, ':now': now, ':ttl': epochSeconds(leaseUntil) + 60 },
    }).then((updated) => updated !== undefined);
  }

  async saveToken(subject: string, holder: string, token: AccessToken): Promise<number | undefined> {
    const updated = await this.#update({
      Key: { pk: tokenItemKey(subject) },
      UpdateExpression:
        'SET access_token = :token, token_expires_ms = :expires, renew_at_ms = :renew, expires_at = :ttl, version = if_not_exists(version, :zero) + :one REMOVE lease_holder, lease_until_ms',
      ConditionExpression: 'lease_holder = :holder',
      ExpressionAttributeValues: {
        ':token': token.value,
        ':expires': token.expiresAt,
        ':renew': token.renewAt,
        ':ttl': epochSeconds(token.expiresAt),
        ':zero': 0,
        ':one': 1,
        ':holder': holder,
      },
      ReturnValues: 'UPDATED_NEW',
    });
    const version: unknown = updated?.version;
    return typeof version === 'number' ? version : undefined;
  }

  async releaseLease(subject: string, holder: string): Promise<void> {
    await this.#update({
      Key: { pk: tokenItemKey(subject) },
      UpdateExpression: 'REMOVE lease_holder, lease_until_ms',
      ConditionExpression: 'lease_holder = :holder',
      ExpressionAttributeValues: { ':holder': holder },
    });
  }

  async removeToken(subject: string, value: string): Promise<boolean> {
    // Only the token's attributes go: a lease another container holds on the item stays in force.
    const updated = await this.#update({
      Key: { pk: tokenItemKey(subject) },
      UpdateExpression: 'REMOVE access_token, token_expires_ms, renew_at_ms',
      ConditionExpression: 'access_token = :token',
      ExpressionAttributeValues: { ':token': value },
    });
    return updated !== undefined;
  }

  /** A conditional update: the attributes it returned (possibly none), or undefined when the condition failed. */
  async #update(input: Omit<UpdateCommandInput, 'TableName'>): Promise<Record<string, unknown> | undefined> {
    try {
      return await this.#table.update(input);
    } catch (error) {
      throw unavailable(error);
    }
  }
}

/** Only the class and message are kept in the text: SDK errors can carry the request, and with it the token. */
function unavailable(error: unknown): TokenStoreUnavailable {
  return new TokenStoreUnavailable(`token table: ${describeError(error)}`, { cause: error });
}

function epochSeconds(epochMs: number): number {
  return Math.ceil(epochMs / 1000);
}

/** The item as the store wrote it; anything malformed counts as absent, so a renewal replaces it. */
function parseRecord(item: Record<string, unknown> | undefined): TokenRecord {
  if (item === undefined) return { token: undefined, leaseUntil: undefined };
  const { access_token: value, token_expires_ms: expiresAt, renew_at_ms: renewAt, version, lease_until_ms: leaseUntil } = item;
  const token =
    typeof value === 'string' && typeof expiresAt === 'number' && typeof renewAt === 'number'
      ? { value, expiresAt, renewAt, version: typeof version === 'number' ? version : 0 }
      : undefined;
  return { token, leaseUntil: typeof leaseUntil === 'number' ? leaseUntil : undefined };
}

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { Table } from '../platform/dynamo.ts';
import type { Envelope } from '../platform/envelope.ts';
import type { Session, SessionImage, SessionStatus } from './session.ts';

export interface SessionStoreOptions {
  client: DynamoDBClient;
  /** RESULTS_TABLE: a session and the result of its image belong together, and share the retention. */
  tableName: string;
  /** Items expire this many days after the session was opened, through the table's TTL attribute `expires_at`. */
  retentionDays: number;
}

/** How the upload path's claim on a session ended. */
export type SessionClaim =
  /** PENDING → CHECKING for this object version: it may be checked, once. */
  | 'claimed'
  /** This version had already claimed it: an earlier attempt stopped mid-check, perhaps after the upstream call. */
  | 'resumed'
  /** No such session (never opened, or past its retention). */
  | 'missing'
  | 'expired'
  /** Another version claimed it, or it is finished. */
  | 'used';

/** The statuses a check ends a session with. */
export type SessionOutcome = Extract<SessionStatus, 'COMPLETED' | 'REJECTED' | 'FAILED'>;

const itemKey = (ref: string) => ({ pk: `session#${ref}` });

/**
 * Liveness sessions in RESULTS_TABLE, one item per session: `pk = session#<ref>` (the id's hash,
 * never the id), `status`, `reference`, `created_at` (ISO-8601), `upload_until` (epoch ms, the
 * end of the upload window), `image` (the object version that claimed it),
 * `result` (the envelope), `signature` (its verdict's JWS, when it has one), `checked_at`, and
 * `expires_at` (epoch seconds, DynamoDB's TTL).
 *
 * Every change of status is one conditional write, so concurrent deliveries, readers and expiry
 * agree on a single history: PENDING → CHECKING → COMPLETED | REJECTED | FAILED, or PENDING → EXPIRED.
 *
 * @example
 * const sessions = new SessionStore({ client: new DynamoDBClient({}), tableName, retentionDays: 30 });
 * const session = await sessions.create(sessionRef(id), 'case-42', new Date(), 300);
 */
export class SessionStore {
  readonly #table: Table;
  readonly #retentionSeconds: number;

  constructor(options: SessionStoreOptions) {
    this.#table = new Table({ client: options.client, tableName: options.tableName, removeUndefinedValues: true });
    this.#retentionSeconds = options.retentionDays * 24 * 60 * 60;
  }

  async create(ref: string, reference: string | null, now: Date, ttlSeconds: number): Promise<Session> {
    const session: Session = { ref, reference, status: 'PENDING', createdAt: now, expiresAt: new Date(now.getTime() + ttlSeconds * 1000) };
    const created = await this.#table.put({
      Item: {
        ...itemKey(ref),
        status: session.status,
        reference: session.reference ?? undefined,
        created_at: now.toISOString(),
        upload_until: session.expiresAt.getTime(),
        expires_at: Math.floor(now.getTime() / 1000) + this.#retentionSeconds,
      },
      // 144 random bits never collide; this only guarantees that a session is never overwritten.
      ConditionExpression: 'attribute_not_exists(pk)',
    });
    if (!created) throw new Error('a liveness session with this id already exists');
    return session;
  }

  /** The session, or undefined when there is none (or its retention has passed but TTL has not removed it yet). */
  async read(ref: string): Promise<Session | undefined> {
    const item = await this.#table.get(itemKey(ref));
    if (item === undefined || (typeof item.expires_at === 'number' && item.expires_at * 1000 <= Date.now())) return undefined;
    return {
      ref,
      reference: typeof item.reference === 'string' ? item.reference : null,
      status: item.status as SessionStatus,
      createdAt: new Date(item.created_at as string),
      expiresAt: new Date(item.upload_until as number),
      ...(item.image === undefined ? {} : { image: item.image as SessionImage }),
      ...(item.result === undefined ? {} : { result: item.result as Envelope }),
      ...(typeof item.signature === 'string' ? { signature: item.signature } : {}),
      ...(item.checked_at === undefined ? {} : { checkedAt: new Date(item.checked_at as string) }),
    };
  }

  /**
   * Lets exactly one object version through to the check: PENDING → CHECKING, remembering the
   * version. The upload window is not checked here: the presigned POST expires with the session,
   * so S3 itself refused anything later.
   */
  async claim(ref: string, image: SessionImage): Promise<SessionClaim> {
    const claimed = await this.#update({
      Key: itemKey(ref),
      UpdateExpression: 'SET #status = :checking, image = :image',
      ConditionExpression: 'attribute_exists(pk) AND #status = :pending AND expires_at > :now',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':checking': 'CHECKING', ':pending': 'PENDING', ':image': image, ':now': Math.floor(Date.now() / 1000) },
    });
    if (claimed) return 'claimed';
    const session = await this.read(ref);
    if (session === undefined) return 'missing';
    if (session.status === 'CHECKING' && sameVersion(session.image, image)) return 'resumed';
    return session.status === 'EXPIRED' ? 'expired' : 'used';
  }

  /** CHECKING → PENDING, when the version that claimed it was not checked and will be retried. */
  async release(ref: string, image: SessionImage): Promise<boolean> {
    return this.#update({
      Key: itemKey(ref),
      UpdateExpression: 'SET #status = :pending REMOVE image',
      ConditionExpression: '#status = :checking AND image.#version = :version',
      ExpressionAttributeNames: { '#status': 'status', '#version': 'version' },
      ExpressionAttributeValues: { ':checking': 'CHECKING', ':pending': 'PENDING', ':version': image.version },
    });
  }

  /** CHECKING → the outcome, with the result and its signature, only for the version that claimed it. */
  async settle(ref: string, image: SessionImage, status: SessionOutcome, result: Envelope, checkedAt: Date, signature?: string): Promise<boolean> {
    const signed = signature !== undefined;
    return this.#update({
      Key: itemKey(ref),
      UpdateExpression: `SET #status = :status, #result = :result, checked_at = :checkedAt${signed ? ', signature = :signature' : ''}`,
      ConditionExpression: '#status = :checking AND image.#version = :version',
      ExpressionAttributeNames: { '#status': 'status', '#result': 'result', '#version': 'version' },
      ExpressionAttributeValues: {
        ':checking': 'CHECKING',
        ':status': status,
        ':result': result,
        ':checkedAt': checkedAt.toISOString(),
        ':version': image.version,
        ...(signed ? { ':signature': signature } : {}),
      },
    });
  }

  /** PENDING → EXPIRED once the upload window has passed at `now`. */
  async expire(ref: string, now: Date): Promise<boolean> {
    return this.#update({
      Key: itemKey(ref),
      UpdateExpression: 'SET #status = :expired',
      ConditionExpression: '#status = :pending AND upload_until <= :now',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':pending': 'PENDING', ':expired': 'EXPIRED', ':now': now.getTime() },
    });
  }

  /** One conditional update; false when its condition did not hold. */
  async #update(input: Omit<UpdateCommandInput, 'TableName'>): Promise<boolean> {
    return (await this.#table.update(input)) !== undefined;
  }
}

const sameVersion = (a: SessionImage | undefined, b: SessionImage): boolean =>
  a !== undefined && a.bucket === b.bucket && a.key === b.key && a.version === b.version;

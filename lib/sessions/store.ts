import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { Table } from '../platform/dynamo.ts';
import type { Envelope } from '../platform/envelope.ts';
import { arrivalProblem, sessionItemKey, type Arrival, type ArrivalProblem, type CheckedImage, type Session, type SessionStatus, type UploadForms } from './session.ts';

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
  /** This version already ended the session: delivered again after its result. */
  | 'settled'
  /** No such session (never opened, or past its retention). */
  | 'missing'
  /** EXPIRED, or its upload window passed before this object arrived (the claim expired it). */
  | 'expired'
  /** Another version claimed it, or it is finished. */
  | 'used'
  /** Still waiting, but this object is not what its forms allowed. */
  | ArrivalProblem;

/** The statuses a check ends a session with. */
export type SessionOutcome = Extract<SessionStatus, 'COMPLETED' | 'REJECTED' | 'FAILED'>;

/**
 * Liveness sessions in RESULTS_TABLE, one item per session: `pk = session#<ref>` (the id's hash,
 * never the id), `status`, `reference`, `created_at` (ISO-8601), `upload_until` (epoch ms, the
 * end of the upload window), `form_until` (epoch ms), `form_types` (string set) and
 * `form_max_bytes` (what the upload forms given out allow), `image` (the object version that
 * claimed it, with the SHA-256 of the bytes checked once known), `result` (the envelope),
 * `signature` (its verdict's JWS, when it has one), `checked_at`, and `expires_at` (epoch
 * seconds, DynamoDB's TTL).
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
        ...sessionItemKey(ref),
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
    const item = await this.#table.get(sessionItemKey(ref));
    if (item === undefined || (typeof item.expires_at === 'number' && item.expires_at * 1000 <= Date.now())) return undefined;
    return {
      ref,
      reference: typeof item.reference === 'string' ? item.reference : null,
      status: item.status as SessionStatus,
      createdAt: new Date(item.created_at as string),
      expiresAt: new Date(item.upload_until as number),
      ...(typeof item.form_until === 'number' ? { forms: formsOf(item) } : {}),
      ...(item.image === undefined ? {} : { image: { version_id: null, etag: null, sha256: null, ...(item.image as Partial<CheckedImage>) } as CheckedImage }),
      ...(item.result === undefined ? {} : { result: item.result as Envelope }),
      ...(typeof item.signature === 'string' ? { signature: item.signature } : {}),
      ...(item.checked_at === undefined ? {} : { checkedAt: new Date(item.checked_at as string) }),
    };
  }

  /**
   * Records an upload form given out for the session, while it waits: the newest form's expiry,
   * its content type among the others', and its size limit. The upload path checks each object
   * that reaches the session against them. False when the session no longer waits.
   */
  async openForm(ref: string, form: { until: Date; contentType: string; maxBytes: number }): Promise<boolean> {
    return this.#update({
      Key: sessionItemKey(ref),
      UpdateExpression: 'SET form_until = :until, form_max_bytes = :maxBytes ADD form_types :types',
      ConditionExpression: '#status = :pending AND upload_until >= :until',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':pending': 'PENDING', ':until': form.until.getTime(), ':maxBytes': form.maxBytes, ':types': new Set([form.contentType]) },
    });
  }

  /**
   * Lets exactly one object version through to the check: PENDING → CHECKING, remembering the
   * version, and only for an object that arrived while a form was valid, with a type and size
   * a form allowed. The bucket enforces the same forms deployed; this does not rely on it. An
   * object that arrived after the upload window expires the session.
   */
  async claim(ref: string, image: Omit<CheckedImage, 'sha256'>, arrival: Arrival): Promise<SessionClaim> {
    const session = await this.read(ref);
    if (session === undefined) return 'missing';
    if (sameVersion(session.image, image)) return session.status === 'CHECKING' ? 'resumed' : 'settled';
    if (session.status === 'EXPIRED') return 'expired';
    if (session.status !== 'PENDING') return 'used';
    const problem = arrivalProblem(session.forms, arrival);
    if (problem === 'late' && (await this.expire(ref, new Date()))) return 'expired';
    if (problem !== undefined) return problem;
    const claimed = await this.#update({
      Key: sessionItemKey(ref),
      UpdateExpression: 'SET #status = :checking, image = :image',
      ConditionExpression: '#status = :pending AND expires_at > :now',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':checking': 'CHECKING', ':pending': 'PENDING', ':image': { ...image, sha256: null }, ':now': Math.floor(Date.now() / 1000) },
    });
    // Lost to another version, or to expiry, since it was read: judged again as it is now.
    return claimed ? 'claimed' : this.claim(ref, image, arrival);
  }

  /** CHECKING → PENDING, when the version that claimed it was not checked and will be retried. */
  async release(ref: string, image: Pick<CheckedImage, 'version'>): Promise<boolean> {
    return this.#update({
      Key: sessionItemKey(ref),
      UpdateExpression: 'SET #status = :pending REMOVE image',
      ConditionExpression: '#status = :checking AND image.#version = :version',
      ExpressionAttributeNames: { '#status': 'status', '#version': 'version' },
      ExpressionAttributeValues: { ':checking': 'CHECKING', ':pending': 'PENDING', ':version': image.version },
    });
  }

  /**
   * CHECKING → the outcome, with the result, its signature (when it is a verdict) and the SHA-256
   * of the bytes checked (null when none were), only for the version that claimed it.
   */
  async settle(
    ref: string,
    image: Pick<CheckedImage, 'version' | 'sha256'>,
    status: SessionOutcome,
    result: Envelope,
    checkedAt: Date,
    signature?: string,
  ): Promise<boolean> {
    const signed = signature !== undefined;
    return this.#update({
      Key: sessionItemKey(ref),
      UpdateExpression: `SET #status = :status, #result = :result, checked_at = :checkedAt, image.sha256 = :sha256${signed ? ', signature = :signature' : ''}`,
      ConditionExpression: '#status = :checking AND image.#version = :version',
      ExpressionAttributeNames: { '#status': 'status', '#result': 'result', '#version': 'version' },
      ExpressionAttributeValues: {
        ':checking': 'CHECKING',
        ':status': status,
        ':result': result,
        ':checkedAt': checkedAt.toISOString(),
        ':version': image.version,
        ':sha256': image.sha256,
        ...(signed ? { ':signature': signature } : {}),
      },
    });
  }

  /** PENDING → EXPIRED once the upload window has passed at `now`. */
  async expire(ref: string, now: Date): Promise<boolean> {
    return this.#update({
      Key: sessionItemKey(ref),
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

const sameVersion = (a: CheckedImage | undefined, b: Pick<CheckedImage, 'bucket' | 'key' | 'version'>): boolean =>
  a !== undefined && a.bucket === b.bucket && a.key === b.key && a.version === b.version;

function formsOf(item: Record<string, unknown>): UploadForms {
  const types = item.form_types instanceof Set ? [...(item.form_types as Set<unknown>)] : [];
  return {
    until: new Date(item.form_until as number),
    contentTypes: types.filter((type): type is string => typeof type === 'string'),
    maxBytes: typeof item.form_max_bytes === 'number' ? item.form_max_bytes : 0,
  };
}

import { createHash } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type * as Idempotency from '@aws-lambda-powertools/idempotency';
import type { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import type { UpstreamStep } from '../check/check.ts';
import { relayOutcome, type CheckOutcome, type Provider } from '../check/outcome.ts';
import type { Envelope } from '../platform/envelope.ts';
import type { PreparedImage } from '../check/image.ts';
import { firstUse } from '../platform/lazy.ts';
import { describeError, logger } from '../platform/logger.ts';

/** The longest Idempotency-Key accepted, in characters. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
/** How long an answer is kept for repeats of its key. */
export const IDEMPOTENCY_WINDOW_SECONDS = 24 * 60 * 60;
/** What a repeat that arrives while the first request still runs is told to wait. */
export const IN_PROGRESS_RETRY_AFTER_SECONDS = 2;

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * The `Idempotency-Key` header of a request (header names already folded to lower case, every
 * spelling's values together: foldedHeaderNames): undefined when absent; refused when empty,
 * longer than 255 characters, holding a control character, or sent twice in any spellings.
 */
export function readIdempotencyKey(
  event: Pick<APIGatewayProxyEvent, 'headers' | 'multiValueHeaders'>,
): { ok: true; key: string | undefined } | { ok: false; message: string } {
  const values = event.multiValueHeaders?.['idempotency-key'];
  if (values !== undefined && values.length > 1) return { ok: false, message: 'send one Idempotency-Key header, not several' };
  const key = event.headers?.['idempotency-key'] ?? values?.[0];
  if (key === undefined) return { ok: true, key: undefined };
  if (key === '') return { ok: false, message: 'Idempotency-Key must not be empty' };
  if ([...key].length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    return { ok: false, message: `Idempotency-Key must be at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters` };
  }
  if (CONTROL_CHARACTERS.test(key)) return { ok: false, message: 'Idempotency-Key must not contain control characters' };
  return { ok: true, key };
}

/** The hash of an image in the canonical form it is sent upstream in: spellings of one image share it. */
export function imageHash(image: PreparedImage): string {
  return createHash('sha256').update(`${image.kind}:`).update(image.value, 'latin1').digest('hex');
}

/** What an idempotency record keeps of an answer: enough to give it again, its signature included. */
interface KeptAnswer {
  status: number;
  envelope: Envelope;
  provider: Provider;
  signature?: string;
}

type IdempotencyModules = typeof Idempotency & { records: DynamoDBPersistenceLayer };

/** Thrown inside the record's run for an answer that must not be kept: Powertools then deletes the record. */
class PassingAnswer extends Error {
  override readonly name = 'PassingAnswer';
}

/**
 * Only final answers are kept: whatever Deepvue judged (2xx, and its 4xx envelopes). A 429, a
 * 5xx or a timeout may turn out otherwise on a retry, so its record is released and the next
 * request with the key is checked afresh.
 */
export const isFinalAnswer = (outcome: CheckOutcome): boolean => outcome.status < 500 && outcome.status !== 429;

export interface IdempotentRequestsOptions {
  /** Client of `tableName`; short timeouts (createTokenTableClient), so a dead table costs little. */
  client: DynamoDBClient;
  /** RESULTS_TABLE: partition key `pk`, TTL attribute `expires_at`. */
  tableName: string;
}

/**
 * `Idempotency-Key` on `POST /v1/liveness-check`, after the IETF httpapi-idempotency-key draft,
 * through Powertools Idempotency: one record per API key and Idempotency-Key
 * (`pk = api-request#<hash>`), holding the hash of the image's canonical form and, once the
 * check is done, its answer for 24 hours. A repeat with the same image gets that answer again
 * (`Idempotent-Replayed: true`) without an upstream call; another image under the key is
 * `422 IDEMPOTENCY_KEY_REUSED`; a repeat while the first runs is `409 IDEMPOTENCY_IN_PROGRESS`.
 * A record that cannot be read or written does not fail the check: it is answered without the
 * guarantee, and logged.
 *
 * @example
 * const requests = new IdempotentRequests({ client: createTokenTableClient(), tableName: 'results' });
 * const outcome = await checkImage(input, deps, deadlineAt, requests.step(key, apiKeyId, context, deps.provider));
 */
export class IdempotentRequests {
  /** Powertools Idempotency and its persistence layer, loaded by the first request with a key: most requests carry none. */
  readonly #powertools: () => Promise<IdempotencyModules>;

  constructor(options: IdempotentRequestsOptions) {
    this.#powertools = firstUse(async () => {
      const [idempotency, { DynamoDBPersistenceLayer }] = await Promise.all([
        import('@aws-lambda-powertools/idempotency'),
        import('@aws-lambda-powertools/idempotency/dynamodb'),
      ]);
      const records = new DynamoDBPersistenceLayer({
        tableName: options.tableName,
        keyAttr: 'pk',
        expiryAttr: 'expires_at',
        awsSdkV3Client: options.client,
      });
      return { ...idempotency, records };
    });
  }

  /**
   * The upstream step of one request under `key`, scoped to the caller (`scope`, its API key id):
   * two callers never share a record. The record's in-progress lease ends with the invocation.
   */
  step(key: string, scope: string, context: Context, provider: Provider): UpstreamStep {
    return async (image, call) => {
      const { IdempotencyAlreadyInProgressError, IdempotencyConfig, IdempotencyValidationError, makeIdempotent, records } = await this.#powertools();
      const config = new IdempotencyConfig({
        eventKeyJmesPath: 'key',
        payloadValidationJmesPath: 'image',
        expiresAfterSeconds: IDEMPOTENCY_WINDOW_SECONDS,
        hashFunction: 'sha256',
        throwOnNoIdempotencyKey: true,
      });
      config.registerLambdaContext(context);
      let fresh: CheckOutcome | undefined;
      const once = makeIdempotent(
        async (_: { key: string; image: string }): Promise<KeptAnswer> => {
          fresh = await call();
          if (!isFinalAnswer(fresh)) throw new PassingAnswer();
          const { status, envelope, provider: decidedBy, signature } = fresh;
          return { status, envelope, provider: decidedBy, ...(signature === undefined ? {} : { signature }) };
        },
        { persistenceStore: records, config, keyPrefix: 'api-request' },
      );
      try {
        const kept = await once({ key: `${scope}\n${key}`, image: imageHash(image) });
        return fresh ?? replay(kept);
      } catch (error) {
        if (fresh !== undefined) {
          if (!(error instanceof PassingAnswer)) logger.warn('could not keep the answer under its Idempotency-Key', { error: describeError(error) });
          return fresh;
        }
        if (error instanceof IdempotencyValidationError) {
          return relayOutcome('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used with another image in the last 24 hours', provider);
        }
        if (error instanceof IdempotencyAlreadyInProgressError) {
          return relayOutcome('IDEMPOTENCY_IN_PROGRESS', 'a request with this Idempotency-Key is still being checked; retry later', provider, {
            retryAfterSeconds: IN_PROGRESS_RETRY_AFTER_SECONDS,
          });
        }
        // The record could not be taken (table throttled or down): check without the guarantee.
        logger.warn('idempotency record unavailable; checking without it', { error: describeError(error) });
        return call();
      }
    };
  }
}

/** A kept answer given again: no upstream call was made for it, so it reports none. */
function replay(kept: KeptAnswer): CheckOutcome {
  return { ...kept, upstream: { attempts: 0, latencyMs: 0 }, replayed: true };
}

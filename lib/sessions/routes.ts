import { RELAY_STATUS, relayEnvelope, type Envelope, type RelaySubCode } from '../platform/envelope.ts';
import type { PresignedUpload, SessionBucket } from './bucket.ts';
import {
  isSessionId,
  newSessionId,
  progressOf,
  sessionKey,
  sessionRef,
  UPLOAD_CONTENT_TYPES,
  type CheckedImage,
  type Session,
  type SessionProgress,
  type SessionStatus,
  type UploadContentType,
} from './session.ts';
import type { SessionStore } from './store.ts';

/** What a route answers: an HTTP status and its JSON body. */
export type SessionAnswer =
  | { status: 201; body: { session_id: string; capture_url: string; expires_at: string } }
  | { status: 200; body: SessionView | PresignedUpload | { status: SessionProgress } }
  | { status: 404 | 409 | 410 | 422; body: Envelope };

/** `GET /v1/liveness-sessions/{id}`: the session as its backend sees it. */
export interface SessionView {
  session_id: string;
  reference: string | null;
  status: SessionStatus;
  created_at: string;
  expires_at: string;
  /** The uploaded object version that was checked, and the SHA-256 of its bytes: where the backend finds the selfie, and how it knows it is the same. */
  image?: CheckedImage;
  result?: Envelope;
  /** The verdict's compact JWS, with `subject` the session's reference (sessionRef of its id). */
  signature?: string;
}

export interface LivenessSessionsOptions {
  store: SessionStore;
  bucket: SessionBucket;
  uploadPrefix: string;
  maxImageBytes: number;
  ttlSeconds: number;
}

const MAX_REFERENCE_CHARS = 128;

/**
 * How long an upload form stays valid (never past the session's window). The page asks for its
 * form once the photo is taken, so the form only has to outlast fitting the photo to the size
 * limit (a few re-encodings) and its transfer: 60 s carries the largest accepted image over a
 * slow mobile uplink (4 MiB at about 0.6 Mbit/s), whichever end of the POST S3 judges the
 * expiry at. A form leaked or kept after the capture is useless a minute later.
 */
export const UPLOAD_FORM_SECONDS = 60;

/** The session routes' refusals, each an envelope with its status. */
type Refusal = Extract<RelaySubCode, 'NOT_FOUND' | 'SESSION_USED' | 'SESSION_EXPIRED' | 'INVALID_REQUEST'>;
const refuse = (subCode: Refusal, message: string) => ({ status: RELAY_STATUS[subCode], body: relayEnvelope(subCode, message) });
const notFound = () => refuse('NOT_FOUND', 'no liveness session has this id');
const expired = () => refuse('SESSION_EXPIRED', 'the session expired before an image was uploaded; open a new one');
const used = () => refuse('SESSION_USED', 'the session already received its image');

/**
 * The four routes of liveness sessions. The backend opens and reads a session with its API key;
 * the capture page, holding only the session id, gets one presigned upload and reads progress,
 * never the verdict. Ids are validated before any lookup, so a malformed one costs no read.
 *
 * @example
 * const sessions = new LivenessSessions({ store, bucket, uploadPrefix: 'uploads/', maxImageBytes, ttlSeconds: 300 });
 * const answer = await sessions.open(JSON.parse(body), 'https://api.example.com/prod/capture');
 */
export class LivenessSessions {
  readonly #store: SessionStore;
  readonly #bucket: SessionBucket;
  readonly #uploadPrefix: string;
  readonly #maxImageBytes: number;
  readonly #ttlSeconds: number;

  constructor(options: LivenessSessionsOptions) {
    this.#store = options.store;
    this.#bucket = options.bucket;
    this.#uploadPrefix = options.uploadPrefix;
    this.#maxImageBytes = options.maxImageBytes;
    this.#ttlSeconds = options.ttlSeconds;
  }

  /** `POST /v1/liveness-sessions`, body `{"reference"?: string}` (≤ 128 characters); `capturePage` without a fragment. */
  async open(body: unknown, capturePage: string): Promise<SessionAnswer> {
    if (!isObject(body)) return refuse('INVALID_REQUEST', 'the body must be a JSON object (or empty)');
    const reference: unknown = Object.hasOwn(body, 'reference') ? body.reference : undefined;
    if (reference !== undefined && reference !== null && (typeof reference !== 'string' || [...reference].length > MAX_REFERENCE_CHARS)) {
      return refuse('INVALID_REQUEST', `"reference" must be a string of at most ${MAX_REFERENCE_CHARS} characters`);
    }
    const id = newSessionId();
    const session = await this.#store.create(sessionRef(id), reference ?? null, new Date(), this.#ttlSeconds);
    return { status: 201, body: { session_id: id, capture_url: `${capturePage}#${id}`, expires_at: session.expiresAt.toISOString() } };
  }

  /** `GET /v1/liveness-sessions/{id}`. */
  async describe(id: unknown): Promise<SessionAnswer> {
    if (!isSessionId(id)) return notFound();
    const session = await this.#current(sessionRef(id));
    if (session === undefined) return notFound();
    return {
      status: 200,
      body: {
        session_id: id,
        reference: session.reference,
        status: session.status,
        created_at: session.createdAt.toISOString(),
        expires_at: session.expiresAt.toISOString(),
        ...(session.image === undefined ? {} : { image: session.image }),
        ...(session.result === undefined ? {} : { result: session.result }),
        ...(session.signature === undefined ? {} : { signature: session.signature }),
      },
    };
  }

  /**
   * `POST /v1/liveness-sessions/{id}/upload`, body `{"content_type"?: "image/jpeg" | "image/png" |
   * "image/webp"}` (default JPEG): a presigned POST for the session's one key, or why not.
   */
  async upload(id: unknown, body: unknown): Promise<SessionAnswer> {
    if (!isSessionId(id)) return notFound();
    const contentType = isObject(body) && Object.hasOwn(body, 'content_type') ? body.content_type : 'image/jpeg';
    if (!isUploadContentType(contentType)) {
      return refuse('INVALID_REQUEST', `"content_type" must be one of ${UPLOAD_CONTENT_TYPES.join(', ')}`);
    }
    const ref = sessionRef(id);
    const session = await this.#current(ref);
    if (session === undefined) return notFound();
    if (session.status === 'EXPIRED') return expired();
    const key = sessionKey(this.#uploadPrefix, ref);
    if (session.status !== 'PENDING' || (await this.#bucket.holds(key))) return used();
    const notAfter = new Date(Math.min(session.expiresAt.getTime(), Date.now() + UPLOAD_FORM_SECONDS * 1000));
    const form = await this.#bucket.presign({ key, contentType, maxBytes: this.#maxImageBytes, notAfter });
    if (form === undefined) return expired();
    // The upload path admits only what a form given out allowed: the form is recorded before it is handed over.
    if (!(await this.#store.openForm(ref, { until: new Date(form.expires_at), contentType, maxBytes: form.max_bytes }))) {
      return (await this.#store.read(ref))?.status === 'EXPIRED' ? expired() : used();
    }
    return { status: 200, body: form };
  }

  /** `GET /v1/liveness-sessions/{id}/progress`: `{"status"}` and nothing else. */
  async progress(id: unknown): Promise<SessionAnswer> {
    if (!isSessionId(id)) return notFound();
    const session = await this.#current(sessionRef(id));
    if (session === undefined) return notFound();
    return { status: 200, body: { status: progressOf(session.status) } };
  }

  /**
   * The session as it stands now. A PENDING session whose window has passed is EXPIRED, unless
   * its image reached the bucket in time: that one is CHECKING, its check on the way.
   */
  async #current(ref: string): Promise<Session | undefined> {
    const now = new Date();
    const session = await this.#store.read(ref);
    if (session === undefined || session.status !== 'PENDING' || now < session.expiresAt) return session;
    if (await this.#bucket.holds(sessionKey(this.#uploadPrefix, ref))) return { ...session, status: 'CHECKING' };
    if (await this.#store.expire(ref, now)) return { ...session, status: 'EXPIRED' };
    // Claimed by its upload in the meantime.
    return this.#store.read(ref);
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isUploadContentType = (value: unknown): value is UploadContentType =>
  typeof value === 'string' && (UPLOAD_CONTENT_TYPES as readonly string[]).includes(value);

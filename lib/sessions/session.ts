import { createHash, randomBytes } from 'node:crypto';
import type { Envelope } from '../platform/envelope.ts';

/**
 * PENDING: waiting for its image. CHECKING: an image was received and is being checked.
 * COMPLETED, REJECTED, FAILED: as for an uploaded image (lib/uploads/results.ts). EXPIRED: the upload
 * window passed without an image.
 */
export type SessionStatus = 'PENDING' | 'CHECKING' | 'COMPLETED' | 'REJECTED' | 'FAILED' | 'EXPIRED';

/** The formats a session's upload may declare; the bytes are checked again when the image is read. */
export const UPLOAD_CONTENT_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;
export type UploadContentType = (typeof UPLOAD_CONTENT_TYPES)[number];

/** What the browser may learn of a session: never the verdict. */
export type SessionProgress = 'WAITING_FOR_UPLOAD' | 'CHECKING' | 'DONE' | 'EXPIRED';

/**
 * The object version a result names: exactly what was checked (a session's image, or a plain
 * upload), so that whoever reads the image later can read those bytes and prove they are.
 */
export interface CheckedImage {
  bucket: string;
  key: string;
  /** The version checked at most once: its S3 versionId, or its ETag in a bucket without versioning. */
  version: string;
  /** S3's versionId; null in a bucket without versioning. */
  version_id: string | null;
  /** The version's ETag, without quotes. */
  etag: string | null;
  /** SHA-256 of the bytes checked, lowercase hex; null when none were (refused before, or not an image). */
  sha256: string | null;
}

/** The upload forms a session has given out: valid until the newest one's expiry, for these types, up to this size. */
export interface UploadForms {
  until: Date;
  contentTypes: string[];
  maxBytes: number;
}

/** An object that reached a session's key, as S3 tells of it. */
export interface Arrival {
  /** When S3 finished storing it (the event's time, on S3's clock). */
  at: Date;
  /** As stored: the form's `Content-Type` field. */
  contentType: string | undefined;
  size: number;
}

/**
 * How much later than its form's expiry an image may reach S3 and still be checked. S3 judges
 * the form's expiry on its own clock and the relay compares S3's event time with the expiry it
 * signed by its own: both are AWS clocks kept by Amazon Time Sync, well within a millisecond of
 * each other, and a form's expiry is rounded down to a whole second. One second covers that with
 * room, and no more: an upload two seconds late is not checked.
 */
export const ARRIVAL_SKEW_MS = 1000;

/** Why an object that reached a waiting session's key is not what the session's forms allowed. */
export type ArrivalProblem =
  /** No form was valid when it arrived (none given out, or the newest expired more than ARRIVAL_SKEW_MS before). */
  | 'late'
  /** Stored with a content type no form named. */
  | 'type'
  /** Larger than the forms allowed (or empty). */
  | 'size';

/** What is wrong with `arrival` for a session whose forms are `forms`, or undefined when it is what they allowed. */
export function arrivalProblem(forms: UploadForms | undefined, arrival: Arrival): ArrivalProblem | undefined {
  if (forms === undefined || arrival.at.getTime() > forms.until.getTime() + ARRIVAL_SKEW_MS) return 'late';
  if (arrival.contentType === undefined || !forms.contentTypes.includes(arrival.contentType)) return 'type';
  if (arrival.size < 1 || arrival.size > forms.maxBytes) return 'size';
  return undefined;
}

export interface Session {
  /** Not the id: the hash under which the session is stored and its image uploaded (see sessionRef). */
  ref: string;
  reference: string | null;
  status: SessionStatus;
  createdAt: Date;
  /** The end of the upload window. */
  expiresAt: Date;
  /** The upload forms given out so far; none before the first. */
  forms?: UploadForms;
  image?: CheckedImage;
  result?: Envelope;
  /** The verdict's compact JWS, when the result carries a verdict. */
  signature?: string;
  checkedAt?: Date;
}

/** 18 random bytes: 144 bits, exactly 24 base64url characters with no padding bits to validate. */
const ID_BYTES = 18;
const ID_PATTERN = /^[A-Za-z0-9_-]{24}$/;
const REF_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** A new session id: the only credential of the capture routes, so it carries 144 random bits. */
export function newSessionId(): string {
  return randomBytes(ID_BYTES).toString('base64url');
}

/** Validates an id where it enters, before any lookup: anything else cannot name a session. */
export function isSessionId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

/**
 * What the table and the bucket hold instead of the id: its SHA-256, base64url. Whoever can read
 * the table or list the bucket learns no id, so cannot use a session's capture routes.
 */
export function sessionRef(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}

/** A session's item in RESULTS_TABLE: keyed by the hash of its id, never the id. */
export const sessionItemKey = (ref: string): { pk: string } => ({ pk: `session#${ref}` });

/** The folder under UPLOAD_PREFIX that only sessions' presigned uploads write to. */
const SESSIONS_FOLDER = 'sessions/';

/**
 * The one key a session's image is uploaded to. The `.jpg` suffix is what the bucket's
 * ObjectCreated notifications filter on; the format itself is read from the bytes.
 */
export function sessionKey(uploadPrefix: string, ref: string): string {
  return `${uploadPrefix}${SESSIONS_FOLDER}${ref}.jpg`;
}

/**
 * Which session a key belongs to: undefined outside the sessions folder; `{ ref: undefined }`
 * for a key inside it that no session can have (the folder is reserved, so nothing there is
 * checked without its session).
 */
export function sessionOfKey(uploadPrefix: string, key: string): { ref: string | undefined } | undefined {
  const folder = `${uploadPrefix}${SESSIONS_FOLDER}`;
  if (!key.startsWith(folder)) return undefined;
  const name = key.slice(folder.length);
  const ref = name.endsWith('.jpg') ? name.slice(0, -'.jpg'.length) : undefined;
  return { ref: ref !== undefined && REF_PATTERN.test(ref) ? ref : undefined };
}

/** The progress route's view: whether the user is done, nothing about the outcome. */
export function progressOf(status: SessionStatus): SessionProgress {
  switch (status) {
    case 'PENDING':
      return 'WAITING_FOR_UPLOAD';
    case 'CHECKING':
      return 'CHECKING';
    case 'EXPIRED':
      return 'EXPIRED';
    case 'COMPLETED':
    case 'REJECTED':
    case 'FAILED':
      return 'DONE';
  }
}

import type { S3Event } from 'aws-lambda';
import type { UploadedObject } from './objects.ts';
import { eventOrder } from './results.ts';

/** An object version named by an S3 event, with its place among the key's versions. */
export interface UploadEventObject extends UploadedObject {
  order: string;
  /** When S3 finished storing it (the event's `eventTime`, S3's clock); when the event says none, the time it was read. */
  arrivedAt: Date;
}

/** S3 writes keys in events form-encoded: `+` for a space, `%XX` for other bytes of the UTF-8 key. */
export function decodeEventKey(key: string): string {
  return decodeURIComponent(key.replaceAll('+', ' '));
}

/** What S3 tells of an object it stored; `versionId` only in versioned buckets. */
export interface StoredObject {
  bucket: string;
  key: string;
  eTag: string;
  size: number;
  sequencer: string;
  versionId?: string;
  /** `ObjectCreated:Put` unless told otherwise (`ObjectCreated:Post` for a browser's form upload). */
  eventName?: string;
  /** When S3 stored it; the event's time when absent. */
  storedAt?: Date;
}

/**
 * An `ObjectCreated` event as S3 sends it, key form-encoded: for tools that put an object and
 * then invoke the function themselves (`npm run upload`, tests), and for the S3 notifications
 * `npm start` queues.
 */
export function objectCreatedEvent(objects: StoredObject[], eventTime = new Date()): S3Event {
  return {
    Records: objects.map((object) => ({
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: 'us-east-1',
      eventTime: (object.storedAt ?? eventTime).toISOString(),
      eventName: object.eventName ?? 'ObjectCreated:Put',
      userIdentity: { principalId: 'AWS:LOCAL' },
      requestParameters: { sourceIPAddress: '127.0.0.1' },
      responseElements: { 'x-amz-request-id': 'local', 'x-amz-id-2': 'local' },
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: 'uploads',
        bucket: { name: object.bucket, ownerIdentity: { principalId: 'LOCAL' }, arn: `arn:aws:s3:::${object.bucket}` },
        object: {
          key: encodeURIComponent(object.key).replaceAll('%20', '+').replaceAll('%2F', '/'),
          size: object.size,
          eTag: object.eTag,
          sequencer: object.sequencer,
          ...(object.versionId === undefined ? {} : { versionId: object.versionId }),
        },
      },
    })),
  };
}

/** A message that is not an S3 notification: retrying cannot help, so it ends in the dead-letter queue. */
export class MalformedNotification extends Error {
  override readonly name = 'MalformedNotification';
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/**
 * The object versions an S3 notification announces: `ObjectCreated` events for `bucket` under
 * `prefix`. S3's `s3:TestEvent` (sent when notifications are configured) and anything else
 * names none.
 */
export function objectsOf(notification: unknown, bucket: string, prefix: string): UploadEventObject[] {
  if (!isRecord(notification)) throw new MalformedNotification('the notification is not a JSON object');
  if (notification.Event === 's3:TestEvent') return [];
  if (!Array.isArray(notification.Records)) throw new MalformedNotification('the notification has no Records');
  return notification.Records.flatMap((record: unknown): UploadEventObject[] => {
    if (!isRecord(record) || !isRecord(record.s3) || !isRecord(record.s3.bucket) || !isRecord(record.s3.object)) {
      throw new MalformedNotification('a record is not an S3 event record');
    }
    if (record.eventSource !== 'aws:s3' || !String(record.eventName).startsWith('ObjectCreated:')) return [];
    const object = record.s3.object;
    const name = text(record.s3.bucket.name);
    const encodedKey = text(object.key);
    if (name === undefined || encodedKey === undefined) throw new MalformedNotification('a record names no bucket or key');
    const key = decodeEventKey(encodedKey);
    if (name !== bucket || !key.startsWith(prefix)) return [];
    // Buckets without versioning send no versionId (or "null" once versioning was suspended).
    const versionId = text(object.versionId) === 'null' ? undefined : text(object.versionId);
    const eTag = text(object.eTag);
    const version = versionId ?? eTag;
    if (version === undefined) throw new MalformedNotification('a record has neither versionId nor eTag');
    const eventTime = text(record.eventTime);
    const stored = eventTime === undefined ? Number.NaN : Date.parse(eventTime);
    return [{
      bucket: name,
      key,
      version,
      versionId,
      eTag,
      order: eventOrder(text(object.sequencer), eventTime),
      arrivedAt: Number.isFinite(stored) ? new Date(stored) : new Date(),
    }];
  });
}

import { describe, expect, it } from 'vitest';
import { decodeEventKey, MalformedNotification, objectCreatedEvent, objectsOf } from '../../../lib/uploads/notifications.ts';

const BUCKET = 'selfies-lib-test';
const PREFIX = 'uploads/';

const stored = (key: string, extra: { versionId?: string } = {}) => ({
  bucket: BUCKET,
  key,
  eTag: 'd41d8cd98f00b204e9800998ecf8427e',
  size: 1234,
  sequencer: '0055AED6DCD90281E5',
  ...extra,
});

describe('S3 notifications', () => {
  it('decode form-encoded keys: + is a space, %2B a plus, UTF-8 escapes', () => {
    expect(decodeEventKey('uploads/Ana+Mar%C3%ADa/selfie+%2B+1.jpg')).toBe('uploads/Ana María/selfie + 1.jpg');
  });

  it.each([
    'uploads/plain.jpg',
    'uploads/with space and+plus.jpg',
    'uploads/Zoë Ødegård/自撮り 😀.png',
    'uploads/100% real?#&=.webp',
  ])('name %s exactly as it was uploaded, and when S3 stored it', (key) => {
    const storedAt = new Date('2026-11-27T16:57:28.503Z');
    const [object] = objectsOf(objectCreatedEvent([{ ...stored(key), storedAt }]), BUCKET, PREFIX);
    expect(object).toEqual({
      bucket: BUCKET,
      key,
      version: 'd41d8cd98f00b204e9800998ecf8427e',
      versionId: undefined,
      eTag: 'd41d8cd98f00b204e9800998ecf8427e',
      order: `seq:${'0055AED6DCD90281E5'.padStart(64, '0')}`,
      arrivedAt: storedAt,
    });
  });

  it('take an event without a readable time for one that arrived now: never earlier than it did', () => {
    const event = objectCreatedEvent([stored('uploads/a.jpg')]);
    const record = event.Records[0] as { eventTime?: string };
    for (const eventTime of [undefined, 'yesterday']) {
      record.eventTime = eventTime;
      const before = Date.now();
      const arrivedAt = objectsOf(event, BUCKET, PREFIX)[0]?.arrivedAt.getTime() ?? 0;
      expect(arrivedAt).toBeGreaterThanOrEqual(before);
      expect(arrivedAt).toBeLessThanOrEqual(Date.now());
    }
  });

  it('identify a version by versionId in versioned buckets, else by ETag', () => {
    const versioned = objectsOf(objectCreatedEvent([stored('uploads/a.jpg', { versionId: '3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY' })]), BUCKET, PREFIX);
    const suspended = objectsOf(objectCreatedEvent([stored('uploads/a.jpg', { versionId: 'null' })]), BUCKET, PREFIX);
    expect(versioned[0]?.version).toBe('3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY');
    expect(suspended[0]?.version).toBe('d41d8cd98f00b204e9800998ecf8427e');
  });

  it('name nothing for the test event, removals, other prefixes and other buckets', () => {
    expect(objectsOf({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: BUCKET }, BUCKET, PREFIX)).toEqual([]);
    const removed = objectCreatedEvent([stored('uploads/a.jpg')]);
    const record = removed.Records[0];
    if (record) record.eventName = 'ObjectRemoved:Delete';
    expect(objectsOf(removed, BUCKET, PREFIX)).toEqual([]);
    expect(objectsOf(objectCreatedEvent([stored('elsewhere/a.jpg')]), BUCKET, PREFIX)).toEqual([]);
    expect(objectsOf(objectCreatedEvent([{ ...stored('uploads/a.jpg'), bucket: 'another-bucket' }]), BUCKET, PREFIX)).toEqual([]);
  });

  it('reject what is not an S3 notification', () => {
    expect(() => objectsOf('not an object', BUCKET, PREFIX)).toThrow(MalformedNotification);
    expect(() => objectsOf({ hello: 'world' }, BUCKET, PREFIX)).toThrow(MalformedNotification);
    expect(() => objectsOf({ Records: [{ eventSource: 'aws:s3' }] }, BUCKET, PREFIX)).toThrow(MalformedNotification);
    const unversioned = objectCreatedEvent([stored('uploads/a.jpg')]);
    const object = unversioned.Records[0]?.s3.object as { eTag?: string };
    delete object.eTag;
    expect(() => objectsOf(unversioned, BUCKET, PREFIX)).toThrow(/neither versionId nor eTag/);
  });
});

import { GetObjectTaggingCommand, HeadObjectCommand, PutObjectCommand, PutObjectTaggingCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Objects, type UploadedObject } from '../../../lib/uploads/objects.ts';
import { s3AccessDenied, startFaultProxy } from '../../support/fault-proxy.ts';
import { fixtureImage } from '../../support/relay.ts';
import { localS3Config, startS3rver, type RunningS3 } from '../../support/s3rver.ts';

const BUCKET = 'selfies-lib-test';

describe('S3Objects on s3rver', () => {
  const MAX = 200_000;
  let server: RunningS3;
  let s3: S3Client;
  let objects: S3Objects;
  const ranges: string[] = [];
  /** Every request sent: method, path with query, and its If-Match header. */
  const sent: Array<{ method: string; target: string; ifMatch: string | undefined }> = [];

  beforeAll(async () => {
    server = await startS3rver([BUCKET]);
    s3 = new S3Client(localS3Config(server.endpoint));
    s3.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { method?: string; path?: string; query?: Record<string, unknown>; headers?: Record<string, string> };
        const range = request.headers?.range;
        if (range !== undefined) ranges.push(range);
        const query = new URLSearchParams(Object.entries(request.query ?? {}).map(([name, value]): [string, string] => [name, String(value ?? '')])).toString();
        sent.push({ method: request.method ?? '', target: `${request.path ?? ''}?${query}`, ifMatch: request.headers?.['if-match'] });
        return next(args);
      },
      { step: 'finalizeRequest' },
    );
    objects = new S3Objects(s3);
  });
  afterAll(async () => {
    s3.destroy();
    await server.close();
  });

  const put = async (key: string, body: Uint8Array): Promise<UploadedObject> => {
    const { ETag } = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
    const eTag = ETag?.replaceAll('"', '');
    return { bucket: BUCKET, key, version: eTag ?? '', versionId: undefined, eTag };
  };
  const read = (object: UploadedObject) => objects.read(object, MAX, AbortSignal.timeout(5000));

  it('reads a photograph whole, asking for at most MAX + 1 bytes', async () => {
    const photo = fixtureImage('face-480p.jpg');
    ranges.length = 0;
    const content = await read(await put('uploads/photo.jpg', photo));
    expect(content.kind).toBe('image');
    expect(content.kind === 'image' && Buffer.from(content.bytes).equals(photo)).toBe(true);
    expect(ranges).toEqual([`bytes=0-${MAX}`]);
  });

  it('reads an image smaller than the sniffing window', async () => {
    const pixel = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
    const content = await read(await put('uploads/pixel.png', pixel));
    expect(content.kind === 'image' && Buffer.from(content.bytes).equals(pixel)).toBe(true);
  });

  it('rejects an object larger than MAX from its announced size', async () => {
    const content = await read(await put('uploads/large.jpg', fixtureImage('two-faces.jpg')));
    expect(content).toEqual({ kind: 'rejected', problem: { ok: false, subCode: 'PAYLOAD_TOO_LARGE', message: expect.stringContaining('487722 bytes') } });
  });

  it('rejects an object that is not a JPEG, PNG or WebP, and an empty one', async () => {
    const text = Buffer.from('just some text, not a picture\n'.repeat(1000));
    for (const body of [text, Buffer.alloc(0)]) {
      const content = await read(await put(`uploads/not-an-image-${body.byteLength}.jpg`, body));
      expect(content).toEqual({ kind: 'rejected', problem: expect.objectContaining({ subCode: 'UNSUPPORTED_IMAGE_FORMAT' }) });
    }
  });

  it('finds an object that is gone', async () => {
    const content = await read({ bucket: BUCKET, key: 'uploads/never-uploaded.jpg', version: 'abc', versionId: undefined, eTag: 'abc' });
    expect(content).toEqual({ kind: 'gone', reason: 'NoSuchKey' });
  });

  it('throws when access is denied: that is for an operator to fix, not the end of the object', async () => {
    const object = await put('uploads/forbidden.jpg', fixtureImage('face.png'));
    // The local S3 takes any key pair (as dynalite does), so the refusal comes from a proxy in front of it.
    const proxy = await startFaultProxy(server.endpoint);
    proxy.inject(s3AccessDenied(), Infinity);
    const denied = new S3Client({ ...localS3Config(proxy.url), maxAttempts: 1 });
    try {
      await expect(new S3Objects(denied).read(object, MAX, AbortSignal.timeout(5000))).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    } finally {
      denied.destroy();
      await proxy.close();
    }
  });

  it('finds a version replaced under its name gone, though s3rver ignores If-Match: never reads the newer bytes as its', async () => {
    const first = await put('uploads/replaced.jpg', fixtureImage('face.png'));
    await put('uploads/replaced.jpg', fixtureImage('face-480p.jpg'));
    expect(await read(first)).toEqual({ kind: 'gone', reason: 'replaced' });
    expect(await objects.head(first)).toEqual({ kind: 'gone', reason: 'replaced' });
  });

  it('tells a version’s size and stored content type', async () => {
    const photo = fixtureImage('face.png');
    const { ETag } = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'uploads/typed.png', Body: photo, ContentType: 'image/png' }));
    const eTag = ETag?.replaceAll('"', '');
    expect(await objects.head({ bucket: BUCKET, key: 'uploads/typed.png', version: eTag ?? '', versionId: undefined, eTag })).toEqual({
      kind: 'stored', size: photo.length, contentType: 'image/png',
    });
  });

  it('pins every request to the version the event named: its versionId where there is one, and its ETag', async () => {
    const stored = await put('uploads/pinned.jpg', fixtureImage('face.png'));
    const versioned: UploadedObject = { ...stored, version: 'v-1', versionId: 'v-1' };
    sent.length = 0;
    await read(versioned);
    await objects.head(versioned);
    await objects.tag(versioned, { 'liveness-sub-code': 'SUCCESS' });
    await objects.deleteVersion(versioned);
    expect(sent.map((request) => request.method)).toEqual(['GET', 'HEAD', 'GET', 'PUT', 'DELETE']);
    for (const request of sent) expect(request.target, request.method).toContain('versionId=v-1');
    expect(sent.filter((request) => request.method === 'GET' || request.method === 'HEAD').map((request) => request.ifMatch)).toEqual([
      `"${stored.eTag}"`, `"${stored.eTag}"`, undefined,
    ]);
  });

  it('deletes a version of an unversioned bucket only while the key holds its ETag, and a version already gone without error', async () => {
    const stored = await put('uploads/discarded.jpg', fixtureImage('face.png'));
    sent.length = 0;
    await objects.deleteVersion(stored);
    expect(sent).toEqual([{ method: 'DELETE', target: expect.not.stringContaining('versionId'), ifMatch: `"${stored.eTag}"` }]);
    await expect(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: stored.key }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    await expect(objects.deleteVersion(stored)).resolves.toBeUndefined();
  });

  it('tags an object, keeping the uploader’s tags and dropping a stale verdict', async () => {
    const object = await put('uploads/tagged.jpg', fixtureImage('face.png'));
    await s3.send(new PutObjectTaggingCommand({
      Bucket: BUCKET,
      Key: object.key,
      Tagging: { TagSet: [{ Key: 'owner', Value: 'kyc-app' }, { Key: 'liveness-is-live', Value: 'true' }] },
    }));

    expect(await objects.tag(object, { 'liveness-sub-code': 'FACE_NOT_DETECTED' }, ['liveness-is-live'])).toBe(true);

    const { TagSet } = await s3.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: object.key }));
    expect(TagSet).toEqual([{ Key: 'owner', Value: 'kyc-app' }, { Key: 'liveness-sub-code', Value: 'FACE_NOT_DETECTED' }]);
  });
});

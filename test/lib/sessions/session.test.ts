import { S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { describe, expect, it } from 'vitest';
import { uploadOrigin } from '../../../lib/sessions/capture-page.ts';
import { executeApiCapturePage } from '../../../lib/sessions/http.ts';
import { ARRIVAL_SKEW_MS, arrivalProblem, isSessionId, newSessionId, progressOf, sessionKey, sessionOfKey, sessionRef } from '../../../lib/sessions/session.ts';

describe('session ids', () => {
  it('carry 144 random bits as 24 base64url characters, and no two are alike', () => {
    const ids = Array.from({ length: 10_000 }, newSessionId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids.slice(0, 100)) {
      expect(id).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect(isSessionId(id)).toBe(true);
    }
    // Every character position varies: the bits are spread over the whole id.
    for (let position = 0; position < 24; position += 1) {
      expect(new Set(ids.map((id) => id[position])).size, `position ${position}`).toBeGreaterThan(60);
    }
  });

  it('are recognised strictly', () => {
    for (const value of ['', 'A'.repeat(23), 'A'.repeat(25), `${'A'.repeat(23)}=`, `${'A'.repeat(23)}+`, `${'A'.repeat(23)}/`, `${'A'.repeat(23)}\n`, 42, null, undefined]) {
      expect(isSessionId(value), String(value)).toBe(false);
    }
  });
});

describe('session keys', () => {
  it('name the hash of the id under the sessions folder, and lead back to it', () => {
    const id = newSessionId();
    const ref = sessionRef(id);
    expect(ref).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(ref).not.toContain(id);
    const key = sessionKey('uploads/', ref);
    expect(key).toBe(`uploads/sessions/${ref}.jpg`);
    expect(sessionOfKey('uploads/', key)).toEqual({ ref });
    expect(sessionOfKey('', sessionKey('', ref))).toEqual({ ref });
  });

  it('tell apart keys outside the folder from keys in it that no session can have', () => {
    expect(sessionOfKey('uploads/', 'uploads/selfie.jpg')).toBeUndefined();
    expect(sessionOfKey('uploads/', 'uploads/sessionsx/a.jpg')).toBeUndefined();
    for (const key of ['uploads/sessions/a.jpg', `uploads/sessions/${'A'.repeat(43)}.png`, `uploads/sessions/x/${'A'.repeat(43)}.jpg`, `uploads/sessions/${'A'.repeat(43)}`]) {
      expect(sessionOfKey('uploads/', key), key).toEqual({ ref: undefined });
    }
  });
});

describe('progress', () => {
  it('says whether the user is done, never how it went', () => {
    expect(['PENDING', 'CHECKING', 'COMPLETED', 'REJECTED', 'FAILED', 'EXPIRED'].map((status) => progressOf(status as never))).toEqual([
      'WAITING_FOR_UPLOAD', 'CHECKING', 'DONE', 'DONE', 'DONE', 'EXPIRED',
    ]);
  });
});

describe('uploadOrigin', () => {
  it('is the origin of the URL the SDK presigns for the bucket, in every region and for dotted names', async () => {
    for (const region of ['us-east-1', 'eu-west-1', 'ap-south-1']) {
      for (const bucket of ['liveness-relay-prod-uploads', 'kyc.selfies.example']) {
        const s3 = new S3Client({ region, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' } });
        const { url } = await createPresignedPost(s3, { Bucket: bucket, Key: 'uploads/sessions/x.jpg' });
        expect(uploadOrigin(bucket, region, {}), `${region} ${bucket}`).toBe(new URL(url).origin);
      }
    }
  });

  it('follows the SDK’s endpoint override', () => {
    expect(uploadOrigin('b', 'us-east-1', { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569/' })).toBe('http://127.0.0.1:4569');
    expect(uploadOrigin('b', 'us-east-1', { AWS_ENDPOINT_URL: 'http://localhost:4566' })).toBe('http://localhost:4566');
  });
});

describe('capture_url', () => {
  it('is the /capture page of the API on its execute-api domain, from the API id, stage and region alone', () => {
    expect(executeApiCapturePage({ apiId: 'a1b2c3d4e5', stage: 'prod' }, 'eu-west-1')).toBe('https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod/capture');
    expect(executeApiCapturePage({ apiId: 'a1b2c3d4e5', stage: 'dev' }, 'cn-north-1')).toBe('https://a1b2c3d4e5.execute-api.cn-north-1.amazonaws.com.cn/dev/capture');
  });

  it('refuses to build one from anything but an API id, a stage name and a region', () => {
    for (const [apiId, stage, region] of [['a b', 'prod', 'us-east-1'], ['evil.example/', 'prod', 'us-east-1'], ['a1b2', 'prod/../x', 'us-east-1'], ['a1b2', 'prod', 'example.com#']]) {
      expect(() => executeApiCapturePage({ apiId: apiId as string, stage: stage as string }, region as string)).toThrow(/set CAPTURE_PAGE_URL/);
    }
  });
});

describe('an object reaching a waiting session', () => {
  const until = new Date('2026-11-27T17:00:00.000Z');
  const forms = { until, contentTypes: ['image/jpeg', 'image/png'], maxBytes: 1000 };
  const arrival = (extra: Partial<Parameters<typeof arrivalProblem>[1]> = {}) => ({ at: until, contentType: 'image/jpeg', size: 1000, ...extra });

  it('is what its forms allowed while one was valid, one second of clock skew included, of a type and size they named', () => {
    expect(ARRIVAL_SKEW_MS).toBe(1000);
    expect(arrivalProblem(forms, arrival())).toBeUndefined();
    expect(arrivalProblem(forms, arrival({ at: new Date(until.getTime() + 1000), contentType: 'image/png', size: 1 }))).toBeUndefined();
  });

  it.each([
    ['after the newest form expired, beyond the skew', arrival({ at: new Date(until.getTime() + 1001) }), 'late'],
    ['of a type no form named', arrival({ contentType: 'image/webp' }), 'type'],
    ['with no type at all', arrival({ contentType: undefined }), 'type'],
    ['larger than the forms allowed', arrival({ size: 1001 }), 'size'],
    ['empty', arrival({ size: 0 }), 'size'],
  ] as const)('is refused when it arrived %s', (_, what, problem) => {
    expect(arrivalProblem(forms, what)).toBe(problem);
  });

  it('is late whatever it is when no form was given out', () => {
    expect(arrivalProblem(undefined, arrival())).toBe('late');
  });
});

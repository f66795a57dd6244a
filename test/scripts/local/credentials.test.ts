import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { servicesInAws, useLocalCredentials } from '../../../scripts/local/credentials.ts';
import { S3RVER_CREDENTIALS } from '../../../scripts/local/s3.ts';
import { startS3rver } from '../../support/s3rver.ts';

/** The AWS credentials of local runs, whatever the shell holds. */
const SHELL = { AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_SESSION_TOKEN: 'token', AWS_PROFILE: 'work' };
const LOCAL = { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:1', AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:2', TOKEN_TABLE: 't', RESULTS_TABLE: 'r' };

describe('local runs’ AWS credentials', () => {
  it('set the shell’s aside when nothing is in AWS: the embedded servers’ key signs, no profile is read', () => {
    const env: NodeJS.ProcessEnv = { ...SHELL, ...LOCAL };
    expect(useLocalCredentials(env)).toBe("AWS credentials: the shell's (AWS_PROFILE=work, access key AKIA…) are left unused, as nothing here is in AWS; the embedded servers' local key signs");
    expect(env).toEqual({ ...LOCAL, AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey });
  });

  it('keep the shell’s when something is in AWS, and say what', () => {
    expect(servicesInAws({ ...LOCAL, DEEPVUE_SECRET_ID: 'liveness-relay/dev/deepvue' })).toEqual(['Secrets Manager']);
    expect(servicesInAws({ ...LOCAL, DEEPVUE_SECRET_ID: 's', AWS_ENDPOINT_URL_SECRETS_MANAGER: 'http://127.0.0.1:3' })).toEqual([]);
    expect(servicesInAws({ TOKEN_TABLE: 'mine', EVENT_BUS_NAME: 'default' })).toEqual(['DynamoDB', 'EventBridge']);
    const env: NodeJS.ProcessEnv = { ...SHELL, ...LOCAL, DEEPVUE_SECRET_ID: 'liveness-relay/dev/deepvue' };
    expect(useLocalCredentials(env)).toBe("AWS credentials: the shell's (AWS_PROFILE=work, access key AKIA…), for Secrets Manager in AWS; the embedded S3 accepts them too");
    expect(env).toMatchObject(SHELL);
  });

  it('the embedded S3 accepts any access key, as dynalite does', async () => {
    const s3 = await startS3rver(['bucket']);
    const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'ASIAFOREIGNKEY', secretAccessKey: 'x', sessionToken: 'y' } });
    try {
      await client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'k', Body: 'v' }));
      expect(await (await client.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'k' }))).Body?.transformToString()).toBe('v');
    } finally {
      client.destroy();
      await s3.close();
    }
  });
});

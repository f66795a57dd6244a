'use strict';

/**
 * Encryption at rest of the bucket, the tables and the queues: AWS's keys, or the customer-managed
 * KMS key of param kmsKeyArn. Resolved when the stack is packaged, so the template names exactly
 * one choice (a property the framework finds null is left out of the template).
 */
const keyOf = async (resolveVariable) => String(await resolveVariable('param:kmsKeyArn')).trim() || undefined;

/** The upload bucket's BucketEncryption: SSE-S3, or SSE-KMS with an S3 Bucket Key (fewer KMS requests). */
module.exports.bucket = async ({ resolveVariable }) => {
  const key = await keyOf(resolveVariable);
  return {
    ServerSideEncryptionConfiguration: [
      key === undefined
        ? { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }
        : { ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: key }, BucketKeyEnabled: true },
    ],
  };
};

/** A table's SSESpecification: DynamoDB's AWS-managed key, or the customer's. */
module.exports.table = async ({ resolveVariable }) => {
  const key = await keyOf(resolveVariable);
  return key === undefined ? { SSEEnabled: true } : { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: key };
};

/** A queue's SqsManagedSseEnabled: true without a key of the customer's, else left out. */
module.exports.sqsManaged = async ({ resolveVariable }) => ((await keyOf(resolveVariable)) === undefined ? true : null);

/** A queue's KmsMasterKeyId: the customer's key, or left out. */
module.exports.queueKey = async ({ resolveVariable }) => (await keyOf(resolveVariable)) ?? null;

/**
 * With a customer's key, what the roles whose code reads or writes encrypted objects and messages
 * may do with it (test/deploy/grants.ts derives the same from their bundles): s3Upload decrypts
 * the images it reads and the messages it receives, and encrypts those it sends back to wait; the
 * session function signs upload forms, so the browser's upload is encrypted under its rights.
 * Nothing else uses the key: DynamoDB holds grants of its own on it.
 */
module.exports.keyUse = async ({ resolveVariable }) => {
  const key = await keyOf(resolveVariable);
  if (key === undefined) return {};
  return {
    Resources: {
      KmsKeyUsePolicy: {
        Type: 'AWS::IAM::Policy',
        Properties: {
          PolicyName: 'kms-key-use',
          Roles: [{ Ref: 'S3UploadRole' }, { Ref: 'LivenessSessionsRole' }],
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [{ Sid: 'KmsKeyUse', Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: key }],
          },
        },
      },
    },
  };
};

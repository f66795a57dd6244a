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

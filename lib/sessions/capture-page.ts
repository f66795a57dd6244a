import type { APIGatewayProxyResult } from 'aws-lambda';

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
 * uploadOrigin below).
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
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
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

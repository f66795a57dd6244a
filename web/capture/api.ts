/**
 * The two session routes the page may call (the session id is their only credential), and the
 * upload itself: a presigned POST straight to the bucket. Nothing here ever sees a verdict.
 */

export type Progress = 'WAITING_FOR_UPLOAD' | 'CHECKING' | 'DONE' | 'EXPIRED';

/** A presigned POST as `POST /v1/liveness-sessions/{id}/upload` answers it. */
export interface UploadForm {
  url: string;
  fields: Record<string, string>;
  maxBytes: number;
}

/** An answer other than success; `status` 0 when no answer arrived at all. */
export class RequestFailed extends Error {
  override readonly name = 'RequestFailed';
  readonly status: number;

  constructor(status: number) {
    super(`request failed with status ${status}`);
    this.status = status;
  }
}

const PROGRESS: ReadonlySet<string> = new Set(['WAITING_FOR_UPLOAD', 'CHECKING', 'DONE', 'EXPIRED']);

/** The API's routes sit beside the page: `<stage>/capture` → `<stage>/v1/liveness-sessions/...`. */
function sessionRoute(sessionId: string, tail: 'progress' | 'upload'): URL {
  return new URL(`v1/liveness-sessions/${encodeURIComponent(sessionId)}/${tail}`, new URL('.', location.href));
}

async function json(request: Promise<Response>): Promise<unknown> {
  let response: Response;
  try {
    response = await request;
  } catch {
    throw new RequestFailed(0);
  }
  if (!response.ok) {
    // Read to the end (and ignored: the status says enough), so the connection is free again.
    await response.arrayBuffer().catch(() => undefined);
    throw new RequestFailed(response.status);
  }
  return response.json();
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export async function readProgress(sessionId: string): Promise<Progress> {
  const body = await json(fetch(sessionRoute(sessionId, 'progress'), { cache: 'no-store', credentials: 'omit' }));
  const status = isRecord(body) ? body.status : undefined;
  if (typeof status !== 'string' || !PROGRESS.has(status)) throw new RequestFailed(502);
  return status as Progress;
}

/** A presigned POST for an image of `contentType`. */
export async function requestUpload(sessionId: string, contentType: string): Promise<UploadForm> {
  const body = await json(
    fetch(sessionRoute(sessionId, 'upload'), {
      method: 'POST',
      cache: 'no-store',
      credentials: 'omit',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ content_type: contentType }),
    }),
  );
  if (!isRecord(body) || typeof body.url !== 'string' || !isRecord(body.fields) || typeof body.max_bytes !== 'number') {
    throw new RequestFailed(502);
  }
  const fields: Record<string, string> = {};
  for (const [name, value] of Object.entries(body.fields)) {
    if (typeof value !== 'string') throw new RequestFailed(502);
    fields[name] = value;
  }
  const url = new URL(body.url);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new RequestFailed(502);
  return { url: url.href, fields, maxBytes: body.max_bytes };
}

/**
 * Sends the image with the form's fields; the file goes last, as S3 requires. XMLHttpRequest,
 * not fetch: only it reports upload progress.
 */
export function sendForm(form: UploadForm, image: Blob, onProgress: (fraction: number) => void): Promise<void> {
  const data = new FormData();
  for (const [name, value] of Object.entries(form.fields)) data.append(name, value);
  data.append('file', image, 'selfie');
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', form.url);
    request.timeout = 120_000;
    request.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
    });
    request.addEventListener('load', () => {
      if (request.status >= 200 && request.status < 300) resolve();
      else reject(new RequestFailed(request.status));
    });
    for (const failure of ['error', 'timeout', 'abort']) request.addEventListener(failure, () => reject(new RequestFailed(0)));
    request.send(data);
  });
}

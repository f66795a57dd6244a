/** Reads the untrusted body of `POST /v1/liveness-check`: a JSON object with a non-empty string `image`. */
export function readCheckRequest(body: unknown): { ok: true; image: string } | { ok: false; message: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, message: 'the body must be a JSON object with a string "image"' };
  }
  const image: unknown = Object.hasOwn(body, 'image') ? (body as { image: unknown }).image : undefined;
  if (image === undefined) return { ok: false, message: '"image" is required' };
  if (typeof image !== 'string') return { ok: false, message: '"image" must be a string' };
  if (image.trim() === '') return { ok: false, message: '"image" must not be empty' };
  return { ok: true, image };
}

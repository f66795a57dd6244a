/**
 * A value built at its first use and shared after: for the clients and libraries that only some
 * requests need, loaded then (`() => import(...)`) rather than at every cold start. A build that
 * fails is tried again at the next use.
 *
 * @example
 * const events = firstUse(async () => new (await import('@aws-sdk/client-eventbridge')).EventBridgeClient({}));
 * await (await events()).send(command);
 */
export function firstUse<T>(build: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= build().catch((error: unknown) => {
      value = undefined;
      throw error;
    });
    return value;
  };
}

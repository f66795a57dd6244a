import type { Dispatcher } from 'undici';
import Pool from 'undici/lib/dispatcher/pool.js';
import request from 'undici/lib/api/api-request.js';

/*
 * undici's own modules of the two things the relay uses, its keep-alive Pool and `request`,
 * instead of the package root: the root also loads fetch, WebSocket, the cache, the mock agent
 * and their parsers, more than a third of a function's bundle and of its cold start. (The root
 * adds `request` to every dispatcher's prototype; loaded alone, it is called on the dispatcher.)
 * The paths are undici's files, not its public API: test/lib/deepvue/undici-modules.test.ts
 * fails loudly when an upgrade moves or changes them, and undici-modules.d.ts types them.
 */

export { Pool };

/** `dispatcher.request(options)`, for any dispatcher, whether or not undici's root was loaded. */
export function requestThrough(dispatcher: Dispatcher, options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
  return request.call(dispatcher, options);
}

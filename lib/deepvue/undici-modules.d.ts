/**
 * The two files of undici that lib/deepvue/undici.ts loads instead of the package root. Both are
 * CommonJS; the package's types describe them under its root (`Pool`, `Dispatcher#request`).
 * test/lib/deepvue/undici-modules.test.ts holds these declarations to the installed undici.
 */
declare module 'undici/lib/dispatcher/pool.js' {
  import type { Pool } from 'undici';

  const UndiciPool: typeof Pool;
  export = UndiciPool;
}

declare module 'undici/lib/api/api-request.js' {
  import type { Dispatcher } from 'undici';

  /** `Dispatcher#request` without a callback, called on any dispatcher. */
  function request(this: Dispatcher, options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData>;
  export = request;
}

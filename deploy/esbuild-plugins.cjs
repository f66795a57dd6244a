'use strict';

/**
 * esbuild plugins of the function bundles (serverless.yml `custom.esbuild.plugins`; the bench
 * bundles with the same list).
 */
const { builtinModules } = require('node:module');

const NAMESPACE = 'node-builtin-through-require';
const BUILTIN = new RegExp(`^(node:.+|${builtinModules.map((name) => name.replace(/[/\\^$*+?.()|[\]{}]/g, '\\$&')).join('|')})$`);

/**
 * Node built-ins imported by ES modules (the AWS SDK's `dist-es`, Powertools, our own code) are
 * loaded with `require` instead of `import`. Importing a built-in as an ES module makes Node
 * build its ES facade, which reads every export once, lazy getters included: `node:http`'s
 * `WebSocket`, `CloseEvent` and `MessageEvent` getters then load Node's own copy of undici (fetch,
 * WebSocket, their parsers), about 50 ms of a cold start for nothing the relay uses. `require`
 * returns the module object and leaves the getters alone. (CommonJS dependencies already require
 * their built-ins through the bundle's `require`, see the banner in serverless.yml.)
 */
const builtinsThroughRequire = {
  name: 'node-builtins-through-require',
  setup(build) {
    build.onResolve({ filter: BUILTIN }, (args) => {
      if (args.kind !== 'import-statement' && args.kind !== 'dynamic-import') return undefined;
      return { path: args.path.startsWith('node:') ? args.path : `node:${args.path}`, namespace: NAMESPACE };
    });
    build.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

module.exports = [builtinsThroughRequire];

'use strict';

/**
 * esbuild plugins of the function bundles (serverless.yml `custom.esbuild.plugins`; the bench
 * bundles with the same list).
 */
const { builtinModules } = require('node:module');
const path = require('node:path');

const NAMESPACE = 'node-builtin-through-require';
/** undici's dispatchers and request, which load the modules left out below. */
const UNDICI = /[/\\]undici[/\\]lib[/\\](dispatcher|core)[/\\][^/\\]+\.js$/;
const BUILTIN = new RegExp(`^(node:.+|${builtinModules.map((name) => name.replace(/[/\\^$*+?.()|[\]{}]/g, '\\$&')).join('|')})$`);

/**
 * Accessors of built-ins that bundled ES modules import by name: read once when the built-in is
 * first loaded (see below). Any other accessor imported by name fails the build, so that one which
 * loads something large (`node:http`'s `WebSocket`) is never read unnoticed.
 */
const ACCESSORS_READ_AT_LOAD = {
  'node:fs': ['promises', 'ReadStream'],
  'node:crypto': ['getRandomValues'],
};

/**
 * Node built-ins imported by ES modules (the AWS SDK's `dist-es`, Powertools, our own code) are
 * loaded with `require` instead of `import`. Importing a built-in as an ES module makes Node
 * build its ES facade, which reads every export once, lazy getters included: `node:http`'s
 * `WebSocket`, `CloseEvent` and `MessageEvent` getters then load Node's own copy of undici (fetch,
 * WebSocket, their parsers), about 50 ms of a cold start for nothing the relay uses. `require`
 * returns the module object and leaves the getters alone. (CommonJS dependencies already require
 * their built-ins through the bundle's `require`, see the banner in serverless.yml.)
 *
 * The stand-in is an ES module exporting the built-in's values by name, not a CommonJS one:
 * esbuild gives every ES module importing a CommonJS module a copy of all its properties (a getter
 * each, ~100 for `node:fs`), a few milliseconds of every cold start over the SDK's many modules.
 */
const builtinsThroughRequire = {
  name: 'node-builtins-through-require',
  setup(build) {
    // A namespace import's missing member is otherwise only a warning, and undefined at run time.
    build.initialOptions.logOverride = { ...build.initialOptions.logOverride, 'import-is-undefined': 'error' };
    build.onResolve({ filter: BUILTIN }, (args) => {
      if (args.kind !== 'import-statement' && args.kind !== 'dynamic-import') return undefined;
      return { path: args.path.startsWith('node:') ? args.path : `node:${args.path}`, namespace: NAMESPACE };
    });
    build.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => {
      const accessors = ACCESSORS_READ_AT_LOAD[args.path] ?? [];
      const names = Object.entries(Object.getOwnPropertyDescriptors(require(args.path)))
        .filter(([name, descriptor]) => ('value' in descriptor || accessors.includes(name)) && /^[A-Za-z_$][\w$]*$/.test(name) && name !== 'default')
        .map(([name]) => name);
      const locals = names.map((name, index) => `${name}: $${index}`).join(', ');
      const exported = names.map((name, index) => `$${index} as ${name}`).join(', ');
      return {
        contents: `const builtin = require(${JSON.stringify(args.path)});\nexport default builtin;\nconst { ${locals} } = builtin;\nexport { ${exported} };\n`,
        loader: 'js',
      };
    });
  },
};

/**
 * With `splitting`, each function's chunks go beside its bundle, in `<bundle>.chunks/`:
 * serverless-esbuild builds every function into one folder and zips, for each function, everything
 * there except the other functions' bundles and what begins with their names. So a function's
 * zip holds its own chunks only.
 */
const chunksBesideTheirBundle = {
  name: 'chunks-beside-their-bundle',
  setup(build) {
    const options = build.initialOptions;
    if (options.splitting !== true) return;
    const entries = Array.isArray(options.entryPoints) ? options.entryPoints : Object.values(options.entryPoints ?? {});
    if (entries.length !== 1) throw new Error('chunks-beside-their-bundle: one entry point per build');
    const entry = typeof entries[0] === 'string' ? entries[0] : entries[0].in;
    options.chunkNames = `${path.basename(entry, path.extname(entry))}.chunks/[name]-[hash]`;
  },
};

/**
 * The AWS SDK's default credential chain is, in the bundles, the environment alone: Lambda gives a
 * function its role's credentials there. The chain's other sources (profiles, SSO, web identity,
 * processes, containers, instance metadata) are for other hosts; their code, loaded at first use,
 * shares modules with the start (STS's query protocol and XML parser), so esbuild puts those into
 * the chunks every cold start loads. `npm start` runs the sources, with the whole chain; for
 * `serverless invoke local` with a profile, export its credentials first (docs/deploying.md).
 */
const CREDENTIALS_NAMESPACE = 'credentials-from-the-environment';
const credentialsFromTheEnvironment = {
  name: CREDENTIALS_NAMESPACE,
  setup(build) {
    build.onResolve({ filter: /^@aws-sdk\/credential-provider-node$/ }, (args) => ({ path: args.path, namespace: CREDENTIALS_NAMESPACE, pluginData: args.resolveDir }));
    build.onLoad({ filter: /.*/, namespace: CREDENTIALS_NAMESPACE }, (args) => ({
      contents: `import { fromEnv } from '@aws-sdk/credential-provider-env';
const WHERE = ' The function bundles read AWS credentials from the environment only, where Lambda puts them (deploy/esbuild-plugins.cjs).';
export const defaultProvider = (init = {}) => {
  const fromEnvironment = fromEnv(init);
  return async () => {
    try {
      return await fromEnvironment();
    } catch (error) {
      error.message += WHERE;
      throw error;
    }
  };
};
`,
      resolveDir: args.pluginData,
      loader: 'js',
    }));
  },
};

/**
 * Modules the functions never run, left out of the bundles: whatever imports one gets a stand-in
 * that throws, saying so, should it ever be loaded (`standIn`, when given, writes another from that
 * error; `importer`, when given, limits the rule to the importing files it matches).
 * - `bowser` parses a browser's user agent, for the AWS SDK's browser builds; esbuild keeps it as
 *   a chunk because the SDK's shared code names it in an `import()`.
 * - undici's llhttp without WebAssembly SIMD: undici falls back to it only where SIMD is missing;
 *   Node 24 on Lambda's x86_64 and arm64 always has it, and undici uses `llhttp_simd-wasm.js`.
 * - undici's fetch body, FormData and WebIDL code, which its dispatchers and requests load only
 *   to send a FormData body; the relay sends strings and buffers (lib/deepvue/client.ts).
 * - undici's HTTP/2 client: the relay's pool speaks HTTP/1.1 only (lib/deepvue/client.ts), and
 *   the module loads `node:http2` at start. Its stand-in is a function that throws if called.
 * - `debug` in file-type's ZIP reader: its messages show only under a DEBUG variable no function
 *   sets, and it loads `tty` and `supports-color` at start. Its stand-in logs nothing.
 */
const LEFT_OUT = [
  { filter: /^bowser$/, why: 'it parses browsers’ user agents' },
  { filter: /^\.\.\/llhttp\/llhttp-wasm\.js$/, importer: UNDICI, why: 'undici uses llhttp_simd-wasm.js wherever WebAssembly SIMD exists' },
  { filter: /^\.\.\/web\//, importer: UNDICI, why: 'undici loads it only to send FormData bodies, and the relay sends none' },
  { filter: /^\.\/client-h2\.js$/, importer: UNDICI, why: 'HTTP/2 is off (allowH2: false)', standIn: (error) => `module.exports = () => { throw ${error}; };` },
  { filter: /^debug$/, importer: /[/\\]@tokenizer[/\\]inflate[/\\]/, why: 'its messages are never enabled', standIn: () => 'module.exports = () => () => {};' },
];
const leftOut = {
  name: 'left-out-modules',
  setup(build) {
    for (const rule of LEFT_OUT) {
      build.onResolve({ filter: rule.filter }, (args) => {
        if (rule.importer !== undefined && !rule.importer.test(args.importer)) return undefined;
        return { path: args.path, namespace: 'left-out', pluginData: rule };
      });
    }
    build.onLoad({ filter: /.*/, namespace: 'left-out' }, (args) => {
      const error = `new Error(${JSON.stringify(`${args.path} is left out of the function bundles (deploy/esbuild-plugins.cjs): ${args.pluginData.why}`)})`;
      const { standIn = (thrown) => `throw ${thrown};` } = args.pluginData;
      return { contents: standIn(error), loader: 'js' };
    });
  },
};

module.exports = [builtinsThroughRequire, chunksBesideTheirBundle, credentialsFromTheEnvironment, leftOut];

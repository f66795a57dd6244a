'use strict';

/**
 * `serverless invoke local` for ESM bundles.
 *
 * serverless-esbuild writes each handler as `<path>.mjs` (the form Lambda loads as an ES module),
 * but osls's `invoke local` only looks for `<path>.js` and `<path>.cjs`. After serverless-esbuild
 * has bundled (same hook, this plugin is listed after it), point the invoked function's handler at
 * the `.mjs` file; Node 24 loads it with require(esm). Deployments are untouched.
 *
 * Lambda sets AWS_LAMBDA_INITIALIZATION_TYPE for on-demand functions, and Powertools reads it to
 * tell a cold start: without it every log line of `invoke local` says `cold_start: false`.
 *
 * The bundling is then finished, so its esbuild contexts are released before the function runs.
 * serverless-esbuild releases them only after a successful invocation: a function that fails to
 * start (a required variable missing) would otherwise leave esbuild's service process running, and
 * the command would print the error and never exit.
 */
const fs = require('node:fs');
const path = require('node:path');

class InvokeLocalEsm {
  constructor(serverless, options) {
    this.hooks = {
      'before:invoke:local:invoke': async () => {
        const name = options.function;
        const fn = name && serverless.service.functions[name];
        if (!fn || typeof fn.handler !== 'string') return;
        const dot = fn.handler.lastIndexOf('.');
        const file = fn.handler.slice(0, dot);
        const exported = fn.handler.slice(dot + 1);
        const built = path.join(serverless.config.servicePath, `${file}.mjs`);
        if (!file.endsWith('.mjs') && fs.existsSync(built)) fn.handler = `${file}.mjs.${exported}`;
        process.env.AWS_LAMBDA_INITIALIZATION_TYPE ??= 'on-demand';
        const bundler = serverless.pluginManager.plugins.find((plugin) => typeof plugin.disposeContexts === 'function');
        if (bundler !== undefined) await bundler.disposeContexts();
      },
    };
  }
}

module.exports = InvokeLocalEsm;

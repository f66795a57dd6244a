'use strict';

/**
 * Builds the capture page (scripts/build-capture-page.ts → .build/capture-page.json) before
 * serverless-esbuild bundles the functions, so that `serverless package`, `deploy` and
 * `invoke local` work from a fresh clone without a separate build step. Listed before
 * serverless-esbuild: hooks of one event run in plugin order.
 */
const { spawnSync } = require('node:child_process');
const path = require('node:path');

class CapturePage {
  constructor(serverless) {
    const build = () => {
      const script = path.join(serverless.config.servicePath, 'scripts', 'build-capture-page.ts');
      const run = spawnSync(process.execPath, [script], { cwd: serverless.config.servicePath, stdio: 'inherit' });
      if (run.status !== 0) throw new Error(`building the capture page failed (${run.error?.message ?? `exit ${run.status}`})`);
    };
    this.hooks = {
      'before:package:createDeploymentArtifacts': build,
      'before:deploy:function:packageFunction': build,
      'before:invoke:local:invoke': build,
    };
  }
}

module.exports = CapturePage;

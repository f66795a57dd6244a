'use strict';

/**
 * Builds what the functions read beside their code before serverless-esbuild bundles them, so
 * that `serverless package`, `deploy` and `invoke local` work from a fresh clone without a
 * separate build step: the capture page and its face detector's files
 * (scripts/build-capture-page.ts → .build/capture-page.json, .build/capture-assets/), and the
 * pre-screen's package (scripts/build-prescreen.ts → .build/prescreen/) and the pixel decoder's
 * (scripts/build-pixel-decoder.ts → .build/pixels/). Listed before
 * serverless-esbuild: hooks of one event run in plugin order.
 */
const { spawnSync } = require('node:child_process');
const path = require('node:path');

class CapturePage {
  constructor(serverless) {
    const build = () => {
      for (const name of ['build-capture-page.ts', 'build-prescreen.ts', 'build-pixel-decoder.ts']) {
        const script = path.join(serverless.config.servicePath, 'scripts', name);
        const run = spawnSync(process.execPath, [script], { cwd: serverless.config.servicePath, stdio: 'inherit' });
        if (run.status !== 0) throw new Error(`${name} failed (${run.error?.message ?? `exit ${run.status}`})`);
      }
    };
    this.hooks = {
      'before:package:createDeploymentArtifacts': build,
      'before:deploy:function:packageFunction': build,
      'before:invoke:local:invoke': build,
    };
  }
}

module.exports = CapturePage;

/**
 * A package the functions import at run time by a path, beside their bundle (the pre-screen's,
 * the pixel decoder's): one ES module for Node 24, minified, with what the bundled CommonJS parts
 * expect (`require`, `__filename`, `__dirname`, the folder of the module, where their files are
 * copied), built into a fresh `dir`.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

export async function buildPackage(entry: string, dir: string, outfile: string): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await build({
    absWorkingDir: repoRoot,
    entryPoints: [entry],
    outfile,
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    mainFields: ['module', 'main'],
    legalComments: 'none',
    logLevel: 'warning',
    banner: {
      js: [
        "import { createRequire as __packageRequire } from 'node:module';",
        "import { fileURLToPath as __packagePath } from 'node:url';",
        'const require = __packageRequire(import.meta.url);',
        'const __filename = __packagePath(import.meta.url);',
        "const __dirname = __packagePath(new URL('.', import.meta.url));",
      ].join(' '),
    },
  });
}

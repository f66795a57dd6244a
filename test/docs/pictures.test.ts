import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CAPTURE_PAGE_BUILD, CAPTURE_PAGE_PICTURE, pictureBuild } from '../support/doc-pictures.ts';

/**
 * The docs' pictures show the page as it is: each is a screenshot the browser tests take and mark
 * with the build of the capture page it shows (test/support/doc-pictures.ts). This test needs no
 * browser, so it also fails where the browser tests are skipped.
 */
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

describe('the pictures in the docs', () => {
  it('are the ones the browser tests make', () => {
    const pictures = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '--', '*.png', '*.jpg', '*.gif', '*.webp', '*.svg'], { cwd: repoRoot, encoding: 'utf8' })
      .split('\n').filter((path) => path !== '' && !path.startsWith('test/fixtures/'));
    expect(pictures, 'an image in the docs is a screenshot the browser tests take and mark (test/support/doc-pictures.ts)').toEqual(['docs/capture-page.png']);
  });

  it('docs/capture-page.png shows the capture page as built now', () => {
    expect(
      pictureBuild(CAPTURE_PAGE_PICTURE),
      'docs/capture-page.png shows another build of the capture page than .build/capture-page.json. If .build/ is older than '
        + 'the sources (vitest run on a file skips npm test\'s pre-script), `npm run build:page` first; if web/capture/ changed, '
        + 'run `npm run test:browser -- test/browser/capture.test.ts`, which rewrites the picture, and commit it.',
    ).toBe(CAPTURE_PAGE_BUILD);
  });
});

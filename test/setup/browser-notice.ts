import { CHROMIUM_PATH, chromiumFound } from '../support/browser.ts';

/**
 * Says again, after the run's summary, that the browser tests were skipped: a line at the start
 * of a long run scrolls out of sight, and a skip must never pass for a success.
 */
export default function setup(): () => void {
  return () => {
    if (!chromiumFound) process.stderr.write(`\n*** browser tests SKIPPED: no Chromium at ${CHROMIUM_PATH}; install it (apt-get install chromium) or set CHROMIUM_PATH ***\n`);
  };
}

import { SAMPLES, samplesRequired, skipNotice } from '../support/deepvue-samples.ts';

/**
 * Says after the run's summary which of Deepvue's request samples could not run here, and why
 * (test/local-server/deepvue-clients.test.ts skips them): a skip must never pass for a success.
 * When they are required, the tests themselves fail instead.
 */
export default function setup(): () => void {
  return () => {
    if (samplesRequired) return;
    for (const sample of SAMPLES) {
      const command = sample.command(sample.file);
      if (typeof command === 'string') process.stderr.write(`\n*** ${skipNotice(sample, command)} ***\n`);
    }
  };
}

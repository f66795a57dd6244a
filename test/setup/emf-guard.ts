import { afterAll, afterEach } from 'vitest';
import { installEmfGuard } from '../support/emf.ts';

/**
 * Every EMF record any test prints is validated against the specification (test/support/emf.ts).
 * An invalid one fails the test that printed it, or the file when printed outside a test.
 */
const guard = installEmfGuard();

const failOnInvalidRecords = () => {
  const invalid = guard.drain();
  if (invalid.length > 0) throw new Error(`invalid EMF record(s) printed:\n  ${invalid.join('\n  ')}`);
};

afterEach(failOnInvalidRecords);
afterAll(failOnInvalidRecords);

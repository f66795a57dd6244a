import { expect, it } from 'vitest';
import { measureTokenSharing } from '../../bench/token-sharing.ts';

it('measures one authorize for many checks over 20 containers sharing the table, one more per revocation', async () => {
  const shared = await measureTokenSharing({ checks: 300, containers: 20, revokeAfter: 150 });
  expect(shared).toMatchObject({ checks: 300, containers: 20, authorizeCalls: 2, failedChecks: 0 });
});

it('measures one authorize per container without the table, so the number above means something', async () => {
  const alone = await measureTokenSharing({ checks: 300, containers: 20, sharedTable: false });
  expect(alone).toMatchObject({ authorizeCalls: 20, failedChecks: 0 });
});

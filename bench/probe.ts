import { setTimeout as sleep } from 'node:timers/promises';
import { send, type Answer, type BurstRequest } from './burst.ts';

/**
 * The probes of a burst, in a process of their own: their timing is then the server's, not that
 * of the process keeping a thousand other connections busy. Started by measureBurst with the URL
 * and the probes as arguments; sends the probes in turn, one every 250 ms, at least one round,
 * until told to stop; then hands back every answer.
 */
if (import.meta.main) {
  const [url, probesJson, withinMs] = process.argv.slice(2) as [string, string, string];
  const probes = JSON.parse(probesJson) as BurstRequest[];
  let stopping = false;
  process.once('message', () => {
    stopping = true;
  });
  const answers: Array<Answer & { probe: string }> = [];
  for (let turn = 0; turn < probes.length || !stopping; turn += 1) {
    const probe = probes[turn % probes.length] as BurstRequest;
    answers.push({ ...(await send(url, probe, Number(withinMs))), probe: `${probe.method} ${probe.path}` });
    await sleep(250);
  }
  process.send?.(answers, () => process.exit(0));
}

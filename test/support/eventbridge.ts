import { startAwsJsonServer } from './aws-json.ts';

/**
 * A loopback EventBridge answering `PutEvents`, so the real SDK client (pointed here by
 * AWS_ENDPOINT_URL_EVENTBRIDGE or an explicit endpoint) is exercised end to end.
 */
export interface PutEventsEntry {
  EventBusName?: string;
  Source?: string;
  DetailType?: string;
  Detail?: string;
}

export interface EventBridgeEndpoint {
  url: string;
  /** Entries accepted so far, oldest first. */
  entries(): PutEventsEntry[];
  clear(): void;
  /** The next `times` requests fail: `'refuse'` answers 200 with every entry failed, `'error'` a 500. */
  failNext(times: number, how: 'refuse' | 'error'): void;
  close(): Promise<void>;
}

export async function startEventBridge(): Promise<EventBridgeEndpoint> {
  const accepted: PutEventsEntry[] = [];
  let failures: { times: number; how: 'refuse' | 'error' } = { times: 0, how: 'error' };

  const server = await startAwsJsonServer({
    'AWSEvents.PutEvents': ({ Entries: input }) => {
      const entries = Array.isArray(input) ? (input as PutEventsEntry[]) : [];
      if (failures.times > 0) {
        failures = { ...failures, times: failures.times - 1 };
        if (failures.how === 'error') return { status: 500, body: { message: 'injected failure' }, errorType: 'InternalException' };
        // PutEvents reports refused entries in a 200 answer.
        return { body: { FailedEntryCount: entries.length, Entries: entries.map(() => ({ ErrorCode: 'InternalFailure', ErrorMessage: 'injected' })) } };
      }
      const first = accepted.push(...entries) - entries.length;
      return { body: { FailedEntryCount: 0, Entries: entries.map((_, index) => ({ EventId: `event-${first + index}` })) } };
    },
  });

  return {
    url: server.url,
    entries: () => [...accepted],
    clear: () => {
      accepted.length = 0;
    },
    failNext: (times, how) => {
      failures = { times, how };
    },
    close: () => server.close(),
  };
}

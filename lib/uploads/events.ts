import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { UploadStatus } from './results.ts';

/** `detail` of a `Liveness Check Completed` event: one per recorded upload result. */
export interface CheckCompletedDetail {
  bucket: string;
  key: string;
  version: string;
  status: UploadStatus;
  sub_code: string;
  /** Deepvue's verdict; null when there is none (REJECTED, FAILED, FACE_NOT_DETECTED, ...). */
  is_live: boolean | null;
}

/** Where completion events go; the upload path treats a failure here as best-effort. */
export interface CompletionPublisher {
  publish(detail: CheckCompletedDetail): Promise<void>;
}

export const EVENT_SOURCE = 'liveness-relay';
export const EVENT_DETAIL_TYPE = 'Liveness Check Completed';

/**
 * Publishes completion events on an EventBridge bus, so downstream systems (onboarding flows,
 * case management) learn of a verdict without polling the results API.
 *
 * @example
 * const events = new EventBridgePublisher({ eventBusName: 'default' });
 * await events.publish({ bucket, key, version, status: 'COMPLETED', sub_code: 'SUCCESS', is_live: true });
 */
export class EventBridgePublisher implements CompletionPublisher {
  readonly #client: EventBridgeClient;
  readonly #eventBusName: string;

  /** `client` defaults to one configured by the SDK's environment (`AWS_ENDPOINT_URL_EVENTBRIDGE`, ...). */
  constructor(options: { client?: EventBridgeClient; eventBusName: string }) {
    this.#client = options.client ?? new EventBridgeClient({});
    this.#eventBusName = options.eventBusName;
  }

  async publish(detail: CheckCompletedDetail): Promise<void> {
    const answer = await this.#client.send(
      new PutEventsCommand({
        Entries: [{ EventBusName: this.#eventBusName, Source: EVENT_SOURCE, DetailType: EVENT_DETAIL_TYPE, Detail: JSON.stringify(detail) }],
      }),
    );
    // PutEvents answers 200 even when it refused the entry; the refusal is in the body.
    const refused = answer.Entries?.find((entry) => entry.ErrorCode !== undefined);
    if ((answer.FailedEntryCount ?? 0) > 0 || refused !== undefined) {
      throw new Error(`EventBridge refused the event: ${refused?.ErrorCode ?? 'unknown'} ${refused?.ErrorMessage ?? ''}`.trim());
    }
  }
}

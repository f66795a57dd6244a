import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';

/**
 * A conditional write's output, or undefined when its condition did not hold: to the relay's
 * stores an expected answer (another container got there first, the item has moved on), not a
 * failure. Every other error is thrown.
 *
 * @example
 * const written = (await conditionalWrite(documents.send(new PutCommand(input)))) !== undefined;
 */
export async function conditionalWrite<T>(write: Promise<T>): Promise<T | undefined> {
  try {
    return await write;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return undefined;
    throw error;
  }
}

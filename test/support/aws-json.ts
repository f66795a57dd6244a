import { createServer } from 'node:http';
import { listenOnLoopback } from '../../scripts/local/loopback.ts';

/**
 * A loopback server for AWS services speaking the JSON 1.1 protocol (`X-Amz-Target` names the
 * operation, JSON in and out), so real SDK clients can be pointed at it through their endpoint
 * override. Written by hand: no maintained local emulator of these services fits in a test.
 */
export interface AwsJsonReply {
  /** 200 unless given. */
  status?: number;
  body: object;
  /** Makes the answer an error of this type (`__type` and `x-amzn-errortype`). */
  errorType?: string;
}

/** One operation, e.g. under the target `secretsmanager.GetSecretValue`; undefined never answers. */
export type AwsJsonOperation = (input: Record<string, unknown>) => AwsJsonReply | undefined;

export interface AwsJsonServer {
  url: string;
  close(): Promise<void>;
}

export async function startAwsJsonServer(operations: Record<string, AwsJsonOperation>): Promise<AwsJsonServer> {
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const target = request.headers['x-amz-target'];
      const operation = typeof target === 'string' ? operations[target] : undefined;
      let reply: AwsJsonReply | undefined;
      try {
        const input: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
        reply = operation === undefined
          ? { status: 400, body: { message: `${String(target)} is not emulated` }, errorType: 'UnknownOperationException' }
          : operation(typeof input === 'object' && input !== null ? { ...input } : {});
      } catch {
        reply = { status: 400, body: { message: 'the body is not JSON' }, errorType: 'SerializationException' };
      }
      if (reply === undefined) return;
      const { status = 200, body, errorType } = reply;
      response.writeHead(status, {
        'content-type': 'application/x-amz-json-1.1',
        ...(errorType === undefined ? {} : { 'x-amzn-errortype': errorType }),
      });
      response.end(JSON.stringify(errorType === undefined ? body : { __type: errorType, ...body }));
    });
  });
  const { url, close } = await listenOnLoopback(server);
  return { url, close };
}

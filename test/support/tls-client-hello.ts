import { createServer, type AddressInfo } from 'node:net';

/**
 * A loopback TCP server that reads the first TLS ClientHello sent to it, keeps the application
 * protocols it offers (ALPN) and closes the connection: what a client would speak, without a
 * certificate. Written here because no test library reads a ClientHello (RFC 8446 §4.1.2 and
 * RFC 7301 §3.1 give the layout).
 */
export async function startClientHelloReader(): Promise<{ port: number; offered: Promise<string[]>; close(): Promise<void> }> {
  let report: (protocols: string[]) => void = () => undefined;
  let fail: (error: Error) => void = () => undefined;
  const offered = new Promise<string[]>((resolve, reject) => {
    report = resolve;
    fail = reject;
  });
  const server = createServer((socket) => {
    let received = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 5 || received.length < 5 + received.readUInt16BE(3)) return;
      try {
        report(alpnProtocols(received.subarray(5, 5 + received.readUInt16BE(3))));
      } catch (error) {
        fail(error as Error);
      }
      socket.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    offered,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const CLIENT_HELLO = 1;
const ALPN_EXTENSION = 16;

/** The protocol names of the ALPN extension of a ClientHello handshake message; empty when none. */
function alpnProtocols(handshake: Buffer): string[] {
  if (handshake[0] !== CLIENT_HELLO) throw new Error('not a ClientHello');
  // Type (1) and length (3), version (2) and random (32), then the session id, suites and compression.
  let at = 4 + 2 + 32;
  at += 1 + handshake.readUInt8(at);
  at += 2 + handshake.readUInt16BE(at);
  at += 1 + handshake.readUInt8(at);
  const end = at + 2 + handshake.readUInt16BE(at);
  for (at += 2; at < end; ) {
    const type = handshake.readUInt16BE(at);
    const length = handshake.readUInt16BE(at + 2);
    if (type === ALPN_EXTENSION) {
      const names: string[] = [];
      for (let name = at + 6; name < at + 4 + length; name += 1 + handshake.readUInt8(name)) {
        names.push(handshake.toString('latin1', name + 1, name + 1 + handshake.readUInt8(name)));
      }
      return names;
    }
    at += 4 + length;
  }
  return [];
}

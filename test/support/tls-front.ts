import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type TLSSocket } from 'node:tls';
import { generate } from 'selfsigned';

/**
 * An `https://127.0.0.1:PORT` in front of a plain-HTTP server of this machine: it ends TLS and
 * passes the bytes on, so that a client written for an https API (Deepvue's samples: Ruby's
 * sets `use_ssl = true`) runs against `npm start` unchanged. Its certificate is made at start,
 * for 127.0.0.1 and localhost, and written to `caFile`: the clients trust it through the
 * variables each runtime reads (curl's CURL_CA_BUNDLE, Python requests' REQUESTS_CA_BUNDLE,
 * Node's NODE_EXTRA_CA_CERTS, Go's and Ruby's SSL_CERT_FILE), never through a change of code.
 */
export interface TlsFront {
  /** e.g. `https://127.0.0.1:41234` */
  url: string;
  /** The certificate (PEM) to trust. */
  caFile: string;
  /** The variables that make curl, Python requests, Node, Go and Ruby trust `caFile`. */
  trustEnv: Record<string, string>;
  close(): Promise<void>;
}

export async function startTlsFront(target: URL): Promise<TlsFront> {
  const day = 24 * 3600 * 1000;
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - day),
    notAfterDate: new Date(Date.now() + day),
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] },
    ],
  });
  const directory = mkdtempSync(join(tmpdir(), 'liveness-relay-tls-'));
  const caFile = join(directory, 'ca.pem');
  writeFileSync(caFile, pems.cert);

  const sockets = new Set<TLSSocket>();
  const server = createServer({ key: pems.private, cert: pems.cert }, (socket) => {
    sockets.add(socket);
    const backend = connect(Number(target.port), target.hostname);
    socket.pipe(backend).pipe(socket);
    const end = () => {
      sockets.delete(socket);
      socket.destroy();
      backend.destroy();
    };
    socket.on('error', end).on('close', end);
    backend.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `https://127.0.0.1:${port}`,
    caFile,
    trustEnv: { CURL_CA_BUNDLE: caFile, REQUESTS_CA_BUNDLE: caFile, NODE_EXTRA_CA_CERTS: caFile, SSL_CERT_FILE: caFile },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          rmSync(directory, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}

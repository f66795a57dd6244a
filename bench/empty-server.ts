import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The baseline of `npm run load`: an HTTP server whose one handler does nothing but read the
 * body and answer `200 {}`, on a free loopback port printed on stdout. What the machine and the
 * load client manage with no relay at all.
 */
const server = createServer((request, response) => {
  request.resume();
  request.on('end', () => response.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
});
server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  process.stdout.write(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));

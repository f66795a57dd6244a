import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';

/**
 * Sends `request` on to `target` and its answer back through `response`, as a transparent proxy
 * would; `body` when the proxy has already read it, else the request is streamed.
 */
export function forward(target: URL, request: IncomingMessage, response: ServerResponse, body?: Buffer): void {
  const upstream = httpRequest(
    { host: target.hostname, port: target.port, method: request.method, path: request.url, headers: request.headers },
    (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    },
  );
  upstream.on('error', () => response.destroy());
  if (body === undefined) request.pipe(upstream);
  else upstream.end(body);
}

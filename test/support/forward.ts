import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';

/**
 * Sends `request` on to `target` and its answer back through `response`, as a transparent proxy
 * would; `body` when the proxy has already read it, else the request is streamed. With
 * `answerAfter` (milliseconds, or a promise), the target's answer is held that long before it is
 * passed on: the request took effect there, its answer is late.
 */
export function forward(target: URL, request: IncomingMessage, response: ServerResponse, body?: Buffer, answerAfter: number | Promise<unknown> = 0): void {
  const upstream = httpRequest(
    { host: target.hostname, port: target.port, method: request.method, path: request.url, headers: request.headers },
    (answer) => {
      const passOn = () => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      };
      if (typeof answerAfter !== 'number') void answerAfter.finally(passOn);
      else if (answerAfter > 0) setTimeout(passOn, answerAfter);
      else passOn();
    },
  );
  upstream.on('error', () => response.destroy());
  if (body === undefined) request.pipe(upstream);
  else upstream.end(body);
}

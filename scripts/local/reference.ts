import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';

/**
 * Two conveniences of `npm start` alone (a deployment serves neither): the API's OpenAPI document
 * as JSON at `/openapi.json`, and a reference page at `/docs` rendered by Swagger UI. The page and
 * its script and style come from the swagger-ui-dist package in node_modules, so it works offline.
 * The document served lists this server first among its `servers`, as the request named it, so
 * that the page's "Try it out" calls the running relay. `/` leads to the page.
 */
export type ReferencePage = { contentType: string; body: string | Buffer } | { redirect: string };

/** The pages, by path; undefined for any other path. `host` is the request's Host header. */
export type ReferencePages = (pathname: string, host: string | undefined) => ReferencePage | undefined;

export const DOCUMENT_PATH = '/openapi.json';
export const DOCS_PATH = '/docs';

const swaggerUi = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Liveness relay API reference (npm start)</title>
<link rel="stylesheet" href="${DOCS_PATH}/swagger-ui.css">
<link rel="icon" type="image/png" href="${DOCS_PATH}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${DOCS_PATH}/swagger-ui-bundle.js"></script>
<script src="${DOCS_PATH}/reference.js"></script>
</body>
</html>
`;

// validatorUrl null: Swagger UI would otherwise ask a public validator about the document.
const START = `window.ui = SwaggerUIBundle({ url: '${DOCUMENT_PATH}', dom_id: '#swagger-ui', deepLinking: true, validatorUrl: null });\n`;

/** What a file of swagger-ui-dist is served as; only these are served. */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

/**
 * The reference pages for the OpenAPI document at `documentFile` (YAML). The document is read
 * once, here, so that an invalid one stops `npm start` rather than the page.
 *
 * @example
 * const pages = referencePages('docs/openapi.yaml');
 * pages('/openapi.json', '127.0.0.1:3000')?.body; // the document as JSON
 */
export function referencePages(documentFile: string): ReferencePages {
  const document = parse(readFileSync(documentFile, 'utf8')) as { servers?: Array<{ url: string }> } & Record<string, unknown>;
  const assets = new Map<string, Buffer>();
  const asset = (name: string): Buffer => {
    let content = assets.get(name);
    if (content === undefined) assets.set(name, (content = readFileSync(join(swaggerUi, name))));
    return content;
  };
  return (pathname, host) => {
    if (pathname === '/') return { redirect: DOCS_PATH };
    if (pathname === DOCUMENT_PATH) {
      const local = { url: `http://${host ?? '127.0.0.1'}`, description: 'This npm start (no API key, no stage prefix).' };
      const deployed = (document.servers ?? []).filter((server) => !server.url.startsWith('http://127.0.0.1'));
      return { contentType: 'application/json', body: JSON.stringify({ ...document, servers: [local, ...deployed] }) };
    }
    if (pathname === DOCS_PATH || pathname === `${DOCS_PATH}/`) return { contentType: 'text/html; charset=utf-8', body: PAGE };
    if (pathname === `${DOCS_PATH}/reference.js`) return { contentType: 'text/javascript; charset=utf-8', body: START };
    const name = pathname.startsWith(`${DOCS_PATH}/`) ? pathname.slice(DOCS_PATH.length + 1) : '';
    const contentType = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    return contentType === undefined ? undefined : { contentType, body: asset(name) };
  };
}

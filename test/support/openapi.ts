import { readFileSync } from 'node:fs';
import { dereference } from '@readme/openapi-parser';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';

/**
 * docs/openapi.yaml held to the code: every answer the tests get from the relay, through the
 * handlers (test/support/lambda.ts) or over HTTP from `npm start` (test/support/local-server.ts),
 * is checked against the document here. Routes are matched by path template; the answer's
 * status must be documented for the operation (or its `default`), its documented headers present
 * and valid, its content type documented, and its body valid against the schema (Ajv, JSON
 * Schema 2020-12, the dialect of OpenAPI 3.1). A request to no documented route must be answered
 * `NoSuchRoute`, and one to a documented path with another method `MethodNotAllowed` or
 * `NoSuchRoute`, as the document says.
 *
 * Written on Ajv rather than an OpenAPI response validator: the maintained ones validate requests
 * and responses of a framework's own objects (express, koa); here the answers come from Lambda
 * results and raw HTTP alike.
 */

/** One answer, as the caller saw it. */
export interface Exchange {
  method: string;
  /** The request path without stage prefix or query, e.g. `/v1/liveness-results/uploads%2Fa.jpg`. */
  path: string;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export const DOCUMENT_PATH = new URL('../../docs/openapi.yaml', import.meta.url);

type Json = Record<string, unknown>;

interface Operation {
  responses: Record<string, Response>;
}
interface Response {
  headers?: Record<string, Header>;
  content?: Record<string, { schema?: Json }>;
}
interface Header {
  required?: boolean;
  schema?: Json;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: { responses: Record<string, Response>; headers: Record<string, Header> };
}

/** The document as written (its `$ref`s kept), parsed once. */
export function readDocument(): Json {
  return parse(readFileSync(DOCUMENT_PATH, 'utf8')) as Json;
}

let dereferenced: Promise<Document> | undefined;
const documentOnce = (): Promise<Document> => (dereferenced ??= dereference(readDocument() as never) as Promise<never>);

const ajv = new Ajv2020({ allErrors: true, strict: true });
addFormats.default(ajv);
const compiled = new WeakMap<Json, ValidateFunction>();
function validatorOf(schema: Json): ValidateFunction {
  let validate = compiled.get(schema);
  if (validate === undefined) compiled.set(schema, (validate = ajv.compile(schema)));
  return validate;
}

/** Problems of `value` against `schema`, in Ajv's words; empty when it is valid. */
export function schemaProblems(schema: Json, value: unknown, where: string): string[] {
  const validate = validatorOf(schema);
  if (validate(value)) return [];
  return (validate.errors ?? []).map((error) => `${where}${error.instancePath} ${error.message ?? 'is invalid'} ${JSON.stringify(error.params)}`);
}

/** `{id}` matches one path segment, `{key+}` one or more (API Gateway's greedy parameter). */
function templatePattern(template: string): RegExp {
  const source = template
    .split(/(\{[^}]+\})/)
    .map((part) => (/^\{[^}]+\+\}$/.test(part) ? '.+' : /^\{[^}]+\}$/.test(part) ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`);
}

/** The documented path template `path` falls under, the most specific first (fewest parameters, greedy last). */
function templateOf(document: Document, path: string): string | undefined {
  const weight = (template: string) => (template.match(/\{[^}]+\+\}/g)?.length ?? 0) * 1000 + (template.match(/\{/g)?.length ?? 0);
  return Object.keys(document.paths)
    .sort((a, b) => weight(a) - weight(b))
    .find((template) => templatePattern(template).test(path));
}

const headerValue = (headers: Exchange['headers'], name: string): string | undefined => {
  const found = Object.entries(headers).find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1];
  return Array.isArray(found) ? found.join(', ') : found;
};

function headerProblems(response: Response, exchange: Exchange, where: string): string[] {
  const problems: string[] = [];
  const documented = new Set(Object.keys(response.headers ?? {}).map((name) => name.toLowerCase()));
  for (const [name, header] of Object.entries(response.headers ?? {})) {
    const value = headerValue(exchange.headers, name);
    if (value === undefined) {
      if (header.required === true) problems.push(`${where}: header ${name} is required but absent`);
      continue;
    }
    if (header.schema === undefined) continue;
    const typed = header.schema.type === 'integer' && /^-?\d+$/.test(value) ? Number(value) : value;
    problems.push(...schemaProblems(header.schema, typed, `${where}: header ${name}`));
  }
  // The relay's own headers are documented wherever they are sent.
  for (const name of Object.keys(exchange.headers)) {
    const lower = name.toLowerCase();
    if (RELAY_HEADERS.has(lower) && !documented.has(lower)) problems.push(`${where}: header ${name} is sent but not documented for this answer`);
  }
  return problems;
}

/** Headers that mean something in the relay's API; any other (date, content-length, ...) is the transport's. */
const RELAY_HEADERS = new Set(['x-request-id', 'x-liveness-provider', 'x-liveness-signature', 'retry-after', 'idempotent-replayed', 'allow', 'content-security-policy']);

function contentProblems(response: Response, exchange: Exchange, where: string): string[] {
  const content = response.content;
  if (content === undefined) return exchange.body === '' ? [] : [`${where}: a body is sent but none is documented`];
  const type = headerValue(exchange.headers, 'content-type')?.split(';')[0]?.trim().toLowerCase();
  const media = type === undefined ? undefined : content[type];
  if (media === undefined) return [`${where}: content type ${String(type)} is not documented (${Object.keys(content).join(', ')})`];
  if (media.schema === undefined) return [];
  let body: unknown = exchange.body;
  if (type === 'application/json') {
    try {
      body = JSON.parse(exchange.body) as unknown;
    } catch {
      return [`${where}: the body is not JSON: ${exchange.body.slice(0, 200)}`];
    }
  }
  return schemaProblems(media.schema, body, `${where}: body`);
}

/** Everything in `exchange` that docs/openapi.yaml does not allow; empty when the answer is as documented. */
export async function documentProblems(exchange: Exchange): Promise<string[]> {
  const document = await documentOnce();
  const method = exchange.method.toLowerCase();
  const template = templateOf(document, exchange.path);
  const operation = template === undefined ? undefined : document.paths[template]?.[method];
  let responses: Record<string, Response>;
  let where: string;
  if (operation !== undefined) {
    responses = operation.responses;
    where = `${exchange.method} ${template}`;
  } else {
    // No such operation: API Gateway or npm start answers for it, as components.responses says.
    const { NoSuchRoute, MethodNotAllowed } = document.components.responses;
    responses = template === undefined ? { 404: NoSuchRoute! } : { 404: NoSuchRoute!, 405: MethodNotAllowed! };
    where = `${exchange.method} ${exchange.path} (${template === undefined ? 'no such route' : `not a method of ${template}`})`;
  }
  const response = responses[String(exchange.status)] ?? responses.default;
  if (response === undefined) return [`${where}: status ${exchange.status} is not documented (${Object.keys(responses).join(', ')})`];
  where = `${where} → ${exchange.status}`;
  return [...headerProblems(response, exchange, where), ...contentProblems(response, exchange, where)];
}

/** Throws, naming every problem and the answer, when `exchange` is not as docs/openapi.yaml says. */
export async function expectDocumented(exchange: Exchange): Promise<void> {
  const problems = await documentProblems(exchange);
  if (problems.length === 0) return;
  throw new Error(
    `the answer does not match docs/openapi.yaml:\n  ${problems.join('\n  ')}\n` +
      `answer: ${exchange.status} ${JSON.stringify(exchange.headers)} ${exchange.body.slice(0, 1000)}`,
  );
}

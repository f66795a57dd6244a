import { readFileSync } from 'node:fs';
import { compileErrors, dereference, validate } from '@readme/openapi-parser';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { RELAY_STATUS } from '../../lib/platform/envelope.ts';
import { documentProblems, readDocument, schemaProblems, type Exchange } from '../support/openapi.ts';

/**
 * docs/openapi.yaml is the API's published contract. Here: it is a valid OpenAPI 3.1 document,
 * its routes are exactly serverless.yml's http events with the same API-key requirement, it
 * lists every sub_code with its status and every answer API Gateway makes itself, its examples
 * are valid, and the check that every test answer goes through can fail. That every answer the
 * relay gives matches it is proven by the suites themselves (test/support/openapi.ts).
 */
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- a parsed document, walked generically

const repoFile = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const serverless = parse(repoFile('serverless.yml')) as Json;
const gatewayResponses = parse(repoFile('deploy/gateway-responses.yml')) as Json;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

let document: Json;
beforeAll(async () => {
  document = (await dereference(readDocument() as never)) as Json;
});

const operations = (): Array<{ method: string; path: string; operation: Json }> =>
  Object.entries(document.paths as Json).flatMap(([path, item]) =>
    Object.entries(item as Json).filter(([method]) => METHODS.includes(method)).map(([method, operation]) => ({ method, path, operation: operation as Json })),
  );

/** The (status, sub_code) pairs a response schema allows for the relay's own envelopes. */
function pairsOf(schema: Json | undefined): string[] {
  if (schema === undefined) return [];
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as Json[]).flatMap(pairsOf);
  const parts = (schema.allOf as Json[] | undefined) ?? [schema];
  const code = parts.map((part) => part.properties?.code?.const as number | undefined).find((value) => value !== undefined);
  const subCodes = parts.map((part) => part.properties?.sub_code?.enum as string[] | undefined).find((value) => value !== undefined);
  return code === undefined || subCodes === undefined ? [] : subCodes.map((subCode) => `${code} ${subCode}`);
}
const responsePairs = (response: Json): string[] => pairsOf(response.content?.['application/json']?.schema as Json | undefined);

/** Every answer API Gateway makes itself, from the stack's gateway responses: `status sub_code`. */
const gatewayAnswers = (): string[] =>
  Object.values(gatewayResponses.Resources as Json)
    .filter((resource) => resource.Type === 'AWS::ApiGateway::GatewayResponse')
    .map((resource) => {
      const template = JSON.parse(String(resource.Properties.ResponseTemplates['application/json']).replace(/\$context\.\w+/g, '0')) as Json;
      return `${resource.Properties.StatusCode as string} ${template.sub_code as string}`;
    });

describe('docs/openapi.yaml', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const result = await validate(readDocument() as never);
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
    expect(result.warnings).toEqual([]);
    expect(document.openapi).toMatch(/^3\.1\./);
  });

  it('has the version and licence of package.json', () => {
    const pkg = JSON.parse(repoFile('package.json')) as Json;
    expect(document.info.version).toBe(pkg.version);
    expect(document.info.license.identifier).toBe(pkg.license);
  });

  it('documents exactly the http events of serverless.yml, with the API key where the route is private', () => {
    // An event may be kept in a file of its own: `http: ${file(./deploy/routes/....yml)}`.
    const httpOf = (http: Json | string): Json => {
      const file = typeof http === 'string' ? /^\$\{file\(\.\/(.+)\)\}$/.exec(http)?.[1] : undefined;
      return file === undefined ? (http as Json) : (parse(repoFile(file)) as Json);
    };
    const events = Object.values(serverless.functions as Json).flatMap((fn) =>
      ((fn.events ?? []) as Json[]).filter((event) => event.http !== undefined).map((event) => httpOf(event.http)).map((http) => ({
        route: `${String(http.method).toUpperCase()} ${http.path as string}`,
        apiKey: http.private === true,
      })),
    );
    const documented = operations().map(({ method, path, operation }) => ({
      route: `${method.toUpperCase()} ${path}`,
      apiKey: ((operation.security ?? document.security) as Json[]).some((requirement) => 'apiKey' in requirement),
    }));
    const byRoute = (a: { route: string }, b: { route: string }) => a.route.localeCompare(b.route);
    expect(documented.sort(byRoute)).toEqual(events.sort(byRoute));
    expect(document.components.securitySchemes.apiKey).toMatchObject({ type: 'apiKey', in: 'header', name: 'x-api-key' });
  });

  it('lists every sub_code the relay answers with, with its status', () => {
    const documented = new Set([
      ...operations().flatMap(({ operation }) => Object.values(operation.responses as Json).flatMap(responsePairs)),
      ...Object.values(document.components.responses as Json).flatMap(responsePairs),
    ]);
    for (const [subCode, status] of Object.entries(RELAY_STATUS)) expect(documented, subCode).toContain(`${status} ${subCode}`);
    // Nothing else: every documented sub_code is one the code or API Gateway gives.
    const known = new Set([...Object.keys(RELAY_STATUS), ...gatewayAnswers().map((answer) => answer.split(' ')[1])]);
    expect([...documented].map((pair) => pair.split(' ')[1]).filter((subCode) => !known.has(subCode))).toEqual([]);
  });

  it('documents every answer API Gateway makes itself on every route it can reach', () => {
    const answers = [...new Set(gatewayAnswers())];
    expect(answers.length).toBeGreaterThan(8);
    for (const { method, path, operation } of operations()) {
      const needsKey = ((operation.security ?? document.security) as Json[]).some((requirement) => 'apiKey' in requirement);
      for (const answer of answers) {
        const [status = ''] = answer.split(' ');
        // A wrong route or method is answered before any operation; a public route never asks for a key.
        if (status === '404' || (!needsKey && answer.endsWith('INVALID_API_KEY'))) continue;
        // A content type is refused only where a body is taken.
        if (operation.requestBody === undefined && status === '415') continue;
        const response = operation.responses[status] as Json | undefined;
        expect(response === undefined ? [] : responsePairs(response), `${method.toUpperCase()} ${path} → ${answer}`).toContain(answer);
      }
    }
    expect(responsePairs(document.components.responses.NoSuchRoute as Json)).toEqual(['404 NOT_FOUND']);
  });

  it('gives examples that are valid against their schemas', () => {
    const problems: string[] = [];
    let examples = 0;
    const checkMedia = (media: Json, where: string) => {
      const values: Array<[string, unknown]> = [
        ...(media.example === undefined ? [] : [['example', media.example] as [string, unknown]]),
        ...Object.entries((media.examples ?? {}) as Json).map(([name, example]) => [name, (example as Json).value] as [string, unknown]),
      ];
      for (const [name, value] of values) {
        examples += 1;
        if (media.schema !== undefined) problems.push(...schemaProblems(media.schema as Json, value, `${where} ${name}`));
      }
    };
    for (const { method, path, operation } of operations()) {
      const where = `${method.toUpperCase()} ${path}`;
      for (const [type, media] of Object.entries((operation.requestBody?.content ?? {}) as Json)) checkMedia(media as Json, `${where} request ${type}`);
      for (const [status, response] of Object.entries(operation.responses as Json)) {
        for (const [type, media] of Object.entries(((response as Json).content ?? {}) as Json)) checkMedia(media as Json, `${where} → ${status} ${type}`);
      }
      for (const parameter of (operation.parameters ?? []) as Json[]) checkMedia(parameter, `${where} parameter ${parameter.name as string}`);
    }
    for (const [name, response] of Object.entries(document.components.responses as Json)) {
      for (const [type, media] of Object.entries(((response as Json).content ?? {}) as Json)) checkMedia(media as Json, `${name} ${type}`);
    }
    expect(problems).toEqual([]);
    expect(examples).toBeGreaterThan(30);
  });

  it('gives an Idempotency-Key no example or default, which a reference page\'s "Try it out" would send as the key every time', () => {
    const keys = operations().flatMap(({ operation }) => ((operation.parameters ?? []) as Json[]).filter((parameter) => String(parameter.name).toLowerCase() === 'idempotency-key'));
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect({ example: key.example, examples: key.examples, default: key.schema?.default, schemaExamples: key.schema?.examples, schemaExample: key.schema?.example })
        .toEqual({ example: undefined, examples: undefined, default: undefined, schemaExamples: undefined, schemaExample: undefined });
    }
  });
});

describe('the check every test answer goes through', () => {
  const envelope = (code: number, subCode: string) =>
    JSON.stringify({ code, timestamp: 1795798643176, transaction_id: '4292077f-3a21-4ff3-aa3c-289089008290', sub_code: subCode, message: 'm' });
  const answer = (changes: Partial<Exchange>): Exchange => ({
    method: 'POST',
    path: '/v1/liveness-check',
    status: 422,
    headers: { 'content-type': 'application/json', 'x-request-id': 'r1', 'x-liveness-provider': 'deepvue' },
    body: envelope(422, 'INVALID_REQUEST'),
    ...changes,
  });

  it('accepts an answer as documented', async () => {
    expect(await documentProblems(answer({}))).toEqual([]);
    expect(await documentProblems(answer({ method: 'GET', path: '/nope', status: 404, headers: { 'content-type': 'application/json', 'x-request-id': 'r' }, body: envelope(404, 'NOT_FOUND') }))).toEqual([]);
  });

  it.each<[string, Partial<Exchange>, RegExp]>([
    ['a status the operation does not document', { path: '/v1/liveness-results/uploads/a.jpg', method: 'GET', status: 409 }, /status 409 is not documented/],
    ['a required header missing', { headers: { 'content-type': 'application/json', 'x-request-id': 'r1' } }, /X-Liveness-Provider is required/],
    ['a header value outside its schema', { headers: { 'content-type': 'application/json', 'x-request-id': 'r1', 'x-liveness-provider': 'someone' } }, /X-Liveness-Provider must be equal to one of the allowed values/],
    ['a relay header the answer does not document', { headers: { 'content-type': 'application/json', 'x-request-id': 'r1', 'x-liveness-provider': 'deepvue', 'retry-after': '2' } }, /retry-after is sent but not documented/],
    ['another content type', { headers: { 'content-type': 'text/plain', 'x-request-id': 'r1', 'x-liveness-provider': 'deepvue' } }, /content type text\/plain is not documented/],
    ['a body that is not JSON', { body: 'oops' }, /not JSON/],
    ['a relay envelope with a member too many', { path: '/v1/liveness-sessions', method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'r' }, body: JSON.stringify({ ...JSON.parse(envelope(422, 'INVALID_REQUEST')) as Json, extra: 1 }) }, /additional properties/],
    ['a sub_code with another status', { path: '/v1/liveness-sessions/AAAAAAAAAAAAAAAAAAAAAAAA/upload', status: 410, headers: { 'content-type': 'application/json', 'x-request-id': 'r' }, body: envelope(410, 'SESSION_USED') }, /allowed values/],
    ['an unknown route that answers 200', { path: '/v2/liveness-check', status: 200 }, /status 200 is not documented/],
  ])('refuses %s', async (_, changes, problem) => {
    expect((await documentProblems(answer(changes))).join('\n')).toMatch(problem);
  });
});

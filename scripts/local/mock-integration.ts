import velocity from 'velocityjs';

/**
 * API Gateway's mock integration, for `npm start` and the template tests: a route that API
 * Gateway answers itself from mapping templates, no function invoked. Its input is the
 * integration as CloudFormation holds it (the `Integration` of an AWS::ApiGateway::Method of
 * type MOCK), so that the tests run the very templates the package deploys, and npm start
 * serves the same definition.
 *
 * What API Gateway does, and this does too:
 * 1. The request template is chosen by the body's media type (parameters dropped); no
 *    Content-Type counts as `application/json`. With passthrough behaviour NEVER, a media type
 *    without a template is refused with 415 (the gateway response UNSUPPORTED_MEDIA_TYPE).
 * 2. The template's output is JSON whose `statusCode` selects the integration response: the
 *    first whose selection pattern (a regular expression) matches all of it, else the one
 *    without a pattern.
 * 3. That response's `application/json` template writes the body; its parameters set the headers
 *    (static `'values'` and `context.*` variables).
 *
 * The templates are Velocity (VTL), rendered by velocityjs. API Gateway's Velocity hands them
 * Java objects; velocityjs hands JavaScript ones, so `$input.body` is given here as a Java
 * string with the methods the templates call (`length()` counts UTF-16 units in both).
 * Whatever else API Gateway offers (`$input.json`, `$util`, overrides, other passthrough
 * behaviours) is not emulated: an integration that needs it is refused when npm start reads it,
 * or renders to something that is not JSON, which the tests catch.
 */

/** The integration of an AWS::ApiGateway::Method of type MOCK, as CloudFormation holds it. */
export interface MockIntegration {
  PassthroughBehavior?: string;
  RequestTemplates?: Record<string, string>;
  IntegrationResponses?: MockIntegrationResponse[];
}

export interface MockIntegrationResponse {
  StatusCode: string;
  SelectionPattern?: string;
  /** `method.response.header.NAME` → `'static value'` or `context.VARIABLE`. */
  ResponseParameters?: Record<string, string>;
  ResponseTemplates?: Record<string, string>;
}

export interface MockRequest {
  contentType: string | undefined;
  body: Buffer;
  requestId: string;
  /** Epoch milliseconds at which the request was received. */
  requestTimeEpoch: number;
}

export type MockAnswer =
  | { kind: 'answer'; status: number; headers: Record<string, string>; body: string }
  /** No request template for the body's media type: API Gateway's UNSUPPORTED_MEDIA_TYPE. */
  | { kind: 'unsupported-media-type'; mediaType: string }
  /** The templates produced no usable status: API Gateway answers 500 (a configuration error). */
  | { kind: 'configuration-error'; reason: string };

export type MockHandler = (request: MockRequest) => MockAnswer;

/** A Java `String` as a template sees it: only the methods the relay's templates call. */
class JavaString {
  readonly #text: string;
  constructor(text: string) {
    this.#text = text;
  }
  length(): number {
    return this.#text.length;
  }
  contains(part: unknown): boolean {
    return this.#text.includes(String(part));
  }
  startsWith(prefix: unknown): boolean {
    return this.#text.startsWith(String(prefix));
  }
  toString(): string {
    return this.#text;
  }
}

const CONTEXT_VARIABLES = ['requestId', 'requestTimeEpoch'] as const;
const HEADER_PARAMETER = /^method\.response\.header\.(.+)$/;

/** The header value a response parameter's source gives, or an error naming what is not emulated. */
function parameterSource(source: string): (context: Record<string, string | number>) => string {
  const quoted = /^'(.*)'$/s.exec(source);
  if (quoted !== null) return () => quoted[1] as string;
  const variable = /^context\.(\w+)$/.exec(source)?.[1];
  if (variable !== undefined && (CONTEXT_VARIABLES as readonly string[]).includes(variable)) return (context) => String(context[variable]);
  throw new Error(`response parameter source ${source} is not emulated (static values and context.${CONTEXT_VARIABLES.join(', context.')} are)`);
}

function render(template: string, context: object): string {
  return velocity.render(template, context, undefined, { env: 'development' });
}

/** The media type of a Content-Type, as API Gateway matches templates: lower case, no parameters. */
const mediaTypeOf = (contentType: string | undefined): string => contentType?.split(';')[0]?.trim().toLowerCase() || 'application/json';

/**
 * Checks `integration` once (throwing on what is not emulated) and returns what answers a request.
 */
export function mockIntegration(integration: MockIntegration): MockHandler {
  if (integration.PassthroughBehavior !== 'NEVER') {
    throw new Error(`passthrough behaviour ${String(integration.PassthroughBehavior)} is not emulated (NEVER is)`);
  }
  const requestTemplates = new Map(Object.entries(integration.RequestTemplates ?? {}).map(([type, template]) => [type.toLowerCase(), template]));
  const responses = (integration.IntegrationResponses ?? []).map((response) => ({
    status: Number(response.StatusCode),
    pattern: response.SelectionPattern ? new RegExp(`^(?:${response.SelectionPattern})$`) : undefined,
    template: Object.entries(response.ResponseTemplates ?? {}).find(([type]) => type === 'application/json') ?? Object.entries(response.ResponseTemplates ?? {})[0],
    headers: Object.entries(response.ResponseParameters ?? {}).map(([target, source]) => {
      const name = HEADER_PARAMETER.exec(target)?.[1];
      if (name === undefined) throw new Error(`response parameter ${target} is not a method response header`);
      return [name.toLowerCase(), parameterSource(source)] as const;
    }),
  }));

  return (request) => {
    const mediaType = mediaTypeOf(request.contentType);
    const requestTemplate = requestTemplates.get(mediaType);
    if (requestTemplate === undefined) return { kind: 'unsupported-media-type', mediaType };
    const context = { requestId: request.requestId, requestTimeEpoch: request.requestTimeEpoch };
    const output = render(requestTemplate, { input: { body: new JavaString(request.body.toString('utf8')) }, context });
    let statusCode: unknown;
    try {
      statusCode = (JSON.parse(output) as { statusCode?: unknown }).statusCode;
    } catch {
      statusCode = undefined;
    }
    if (!Number.isInteger(statusCode)) return { kind: 'configuration-error', reason: 'the request template gave no integer statusCode' };
    const selected =
      responses.find((response) => response.pattern?.test(String(statusCode)) === true) ?? responses.find((response) => response.pattern === undefined);
    if (selected === undefined) return { kind: 'configuration-error', reason: `no integration response for status ${String(statusCode)} and no default` };
    const [contentType, template] = selected.template ?? ['application/json', ''];
    return {
      kind: 'answer',
      status: selected.status,
      headers: { 'content-type': contentType, ...Object.fromEntries(selected.headers.map(([name, value]) => [name, value(context)])) },
      body: render(template, { input: { body: new JavaString('') }, context }),
    };
  };
}

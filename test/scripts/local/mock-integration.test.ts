import { describe, expect, it } from 'vitest';
import { mockIntegration, type MockIntegration, type MockRequest } from '../../../scripts/local/mock-integration.ts';

/**
 * API Gateway's mock integration as npm start renders it, on integrations shaped to reach each
 * rule; the relay's own route is run through it from the packaged template in
 * test/deploy/template.test.ts.
 */
const request = (contentType: string | undefined, body = ''): MockRequest => ({ contentType, body: Buffer.from(body), requestId: 'req-1', requestTimeEpoch: 1_767_225_600_000 });

const integration: MockIntegration = {
  PassthroughBehavior: 'NEVER',
  RequestTemplates: {
    'application/json': '#if($input.body.startsWith("x") && !$input.body.contains("y")){"statusCode": 422}#else{"statusCode": 200}#end',
    'Text/Plain': '{"statusCode": $input.body.length()}',
  },
  IntegrationResponses: [
    { StatusCode: '200', SelectionPattern: '', ResponseParameters: { 'method.response.header.x-request-id': 'context.requestId', 'method.response.header.Cache-Control': "'no-store'" }, ResponseTemplates: { 'application/json': '{"at":$context.requestTimeEpoch}' } },
    { StatusCode: '400', SelectionPattern: '4\\d\\d', ResponseTemplates: { 'application/json': '{"id":"$context.requestId"}' } },
    // Matches the whole status or not at all: "42" does not select 422.
    { StatusCode: '409', SelectionPattern: '42' },
  ],
};

describe('mockIntegration', () => {
  const answer = mockIntegration(integration);

  it('picks the request template by media type, case and parameters aside; no Content-Type is JSON', () => {
    expect(answer(request(undefined))).toMatchObject({ kind: 'answer', status: 200 });
    expect(answer(request('APPLICATION/JSON; charset=utf-8', 'x'))).toMatchObject({ kind: 'answer', status: 400 });
    expect(answer(request('application/json', 'xy'))).toMatchObject({ kind: 'answer', status: 200 });
    expect(answer(request('text/plain', '1'.repeat(200)))).toMatchObject({ kind: 'answer', status: 200 });
  });

  it('selects the response whose pattern matches the whole status, else the default, and fills its headers and body', () => {
    expect(answer(request('application/json'))).toEqual({
      kind: 'answer',
      status: 200,
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-1', 'cache-control': 'no-store' },
      body: '{"at":1767225600000}',
    });
    expect(answer(request('application/json', 'x'))).toEqual({ kind: 'answer', status: 400, headers: { 'content-type': 'application/json' }, body: '{"id":"req-1"}' });
    expect(answer(request('text/plain', '1'.repeat(422)))).toMatchObject({ kind: 'answer', status: 400 });
  });

  it('refuses a media type without a template, as API Gateway does with passthrough NEVER', () => {
    expect(answer(request('application/octet-stream'))).toEqual({ kind: 'unsupported-media-type', mediaType: 'application/octet-stream' });
  });

  it('reports what API Gateway answers 500 for: no statusCode, or no response for it and no default', () => {
    const noDefault = mockIntegration({ ...integration, IntegrationResponses: integration.IntegrationResponses?.slice(1) });
    expect(noDefault(request('application/json'))).toEqual({ kind: 'configuration-error', reason: 'no integration response for status 200 and no default' });
    const noStatus = mockIntegration({ ...integration, RequestTemplates: { 'application/json': '{"status": 200}' } });
    expect(noStatus(request('application/json'))).toEqual({ kind: 'configuration-error', reason: 'the request template gave no integer statusCode' });
  });

  it('refuses at once what it does not emulate', () => {
    expect(() => mockIntegration({ ...integration, PassthroughBehavior: 'WHEN_NO_MATCH' })).toThrow(/passthrough behaviour WHEN_NO_MATCH is not emulated/);
    expect(() => mockIntegration({ ...integration, IntegrationResponses: [{ StatusCode: '200', ResponseParameters: { 'method.response.header.x-id': 'integration.response.header.x-id' } }] })).toThrow(
      /response parameter source integration.response.header.x-id is not emulated/,
    );
  });
});

import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * deploy/api-stage.cjs on small templates of the framework's shape; the packaged template's stage
 * is held by template.test.ts.
 */
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- CloudFormation JSON
const { addThrottledStage } = createRequire(import.meta.url)('../../deploy/api-stage.cjs') as {
  addThrottledStage: (template: { Resources: Json }, throttle: unknown) => void;
};

const root = { 'Fn::GetAtt': ['ApiGatewayRestApi', 'RootResourceId'] };
const method = (resourceId: Json, httpMethod: string, guard: Json = {}): Json => ({
  Type: 'AWS::ApiGateway::Method',
  Properties: { HttpMethod: httpMethod, ResourceId: resourceId, AuthorizationType: 'NONE', ...guard },
});

function template(): { Resources: Json } {
  return {
    Resources: {
      ApiGatewayRestApi: { Type: 'AWS::ApiGateway::RestApi', Properties: { Name: 'api' } },
      ResourceV1: { Type: 'AWS::ApiGateway::Resource', Properties: { ParentId: root, PathPart: 'v1', RestApiId: { Ref: 'ApiGatewayRestApi' } } },
      ResourceKey: { Type: 'AWS::ApiGateway::Resource', Properties: { ParentId: { Ref: 'ResourceV1' }, PathPart: '{key+}', RestApiId: { Ref: 'ApiGatewayRestApi' } } },
      RootGet: method(root, 'GET'),
      KeyAny: method({ Ref: 'ResourceKey' }, 'ANY'),
      KeyPost: method({ Ref: 'ResourceKey' }, 'POST', { ApiKeyRequired: true }),
      V1Get: method({ Ref: 'ResourceV1' }, 'GET', { AuthorizationType: 'AWS_IAM' }),
      Deployment123: { Type: 'AWS::ApiGateway::Deployment', Properties: { RestApiId: { Ref: 'ApiGatewayRestApi' }, StageName: 'prod' } },
      UsagePlan: { Type: 'AWS::ApiGateway::UsagePlan', DependsOn: 'Deployment123', Properties: { ApiStages: [{ Stage: 'prod' }] } },
      Table: { Type: 'AWS::DynamoDB::Table', Properties: {} },
    },
  };
}

describe('the stage of deploy/api-stage.cjs', () => {
  it('takes the stage from the deployment and throttles each method that needs neither an API key nor an authorizer', () => {
    const t = template();
    addThrottledStage(t, { rateLimit: '2.5', burstLimit: '5' });
    expect(t.Resources.Deployment123.Properties).toEqual({ RestApiId: { Ref: 'ApiGatewayRestApi' } });
    expect(t.Resources.ApiGatewayStage).toEqual({
      Type: 'AWS::ApiGateway::Stage',
      Properties: {
        RestApiId: { Ref: 'ApiGatewayRestApi' },
        DeploymentId: { Ref: 'Deployment123' },
        StageName: 'prod',
        MethodSettings: [
          { HttpMethod: 'GET', ResourcePath: '/', ThrottlingRateLimit: 2.5, ThrottlingBurstLimit: 5 },
          { HttpMethod: '*', ResourcePath: '/~1v1~1{key+}', ThrottlingRateLimit: 2.5, ThrottlingBurstLimit: 5 },
        ],
      },
    });
    // What waited for the deployment (and its stage) now waits for the stage.
    expect(t.Resources.UsagePlan.DependsOn).toEqual(['Deployment123', 'ApiGatewayStage']);
    expect(t.Resources.Table.DependsOn).toBeUndefined();
  });

  it('refuses limits that are not positive numbers, a burst that is not whole, and a method it cannot place', () => {
    for (const throttle of [undefined, {}, { rateLimit: 0, burstLimit: 1 }, { rateLimit: 'ten', burstLimit: 1 }, { rateLimit: 1, burstLimit: 1.5 }, { rateLimit: 1, burstLimit: '' }]) {
      expect(() => addThrottledStage(template(), throttle), JSON.stringify(throttle)).toThrow(/custom\.publicRouteThrottle\.(rateLimit|burstLimit) must be a positive/);
    }
    const elsewhere = template();
    elsewhere.Resources.Imported = method({ 'Fn::ImportValue': 'shared-resource' }, 'GET');
    expect(() => addThrottledStage(elsewhere, { rateLimit: 1, burstLimit: 1 })).toThrow(/cannot throttle a method of \{"Fn::ImportValue":"shared-resource"\}/);
  });

  it('leaves a template without a deployment alone, and refuses one with two', () => {
    const none = template();
    delete none.Resources.Deployment123;
    addThrottledStage(none, { rateLimit: 1, burstLimit: 1 });
    expect(none.Resources.ApiGatewayStage).toBeUndefined();
    const two = template();
    two.Resources.Deployment456 = { Type: 'AWS::ApiGateway::Deployment', Properties: { StageName: 'prod' } };
    expect(() => addThrottledStage(two, { rateLimit: 1, burstLimit: 1 })).toThrow(/one API Gateway deployment/);
  });
});

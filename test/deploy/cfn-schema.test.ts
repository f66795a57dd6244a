import { describe, expect, it } from 'vitest';
import { schemaViolations } from './cfn-schema.ts';

/** The schema check of test/deploy/cfn-schema.ts on small templates; template.test.ts runs it on the packaged ones. */
const alarm = (properties: Record<string, unknown>, condition?: string) => ({
  Type: 'AWS::CloudWatch::Alarm',
  ...(condition === undefined ? {} : { Condition: condition }),
  Properties: {
    ComparisonOperator: 'GreaterThanThreshold',
    EvaluationPeriods: 1,
    Threshold: 0,
    Namespace: 'AWS/Lambda',
    MetricName: 'Errors',
    Statistic: 'Sum',
    Period: 300,
    ...properties,
  },
});

describe('schemaViolations', () => {
  it('resolves each Fn::If both ways and finds an empty action in the branch where the alarm’s schema forbids one', async () => {
    const template = {
      Conditions: { HasTopic: { 'Fn::Not': [{ 'Fn::Equals': ['', ''] }] } },
      Resources: { Alarm: alarm({ AlarmActions: { 'Fn::If': ['HasTopic', [''], { Ref: 'AWS::NoValue' }] } }) },
    };
    expect(await schemaViolations(template)).toEqual([
      'Alarm (AWS::CloudWatch::Alarm) /AlarmActions/0 must NOT have fewer than 1 characters {"limit":1}, with HasTopic=true',
    ]);
    // The cause fixed: no action at all rather than an empty one.
    expect(await schemaViolations({ Resources: { Alarm: alarm({}) } })).toEqual([]);
  });

  it('accepts intrinsic functions and the string forms CloudFormation accepts, and refuses unknown or missing properties and wrong types', async () => {
    const fine = alarm({
      AlarmName: { 'Fn::Sub': '${AWS::StackName}-errors' },
      AlarmActions: [{ Ref: 'Topic' }],
      EvaluationPeriods: '2',
      ActionsEnabled: 'true',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: 'Function' } }],
    });
    expect(await schemaViolations({ Resources: { Alarm: fine } })).toEqual([]);

    const wrong = alarm({ AlarmActoins: ['arn:aws:sns:us-east-1:123456789012:t'], EvaluationPeriods: 'two', Dimensions: [{ Name: 'FunctionName' }] });
    const found = await schemaViolations({ Resources: { Alarm: wrong } });
    expect(found.join('\n')).toMatch(/\/ must NOT have additional properties \{"additionalProperty":"AlarmActoins"\}/);
    expect(found.join('\n')).toMatch(/\/EvaluationPeriods must be integer/);
    expect(found.join('\n')).toMatch(/\/Dimensions\/0 must have required property 'Value'/);
  });

  it('leaves out a resource whose condition is false, and names a resource type CloudFormation does not have', async () => {
    const template = {
      Conditions: { Create: { 'Fn::Equals': ['true', 'false'] } },
      Resources: {
        Alarm: alarm({ AlarmActions: [''] }, 'Create'),
        Widget: { Type: 'AWS::CloudWatch::Widget', Properties: {} },
        Custom: { Type: 'Custom::Anything', Properties: { Whatever: '' } },
      },
    };
    expect(await schemaViolations(template)).toEqual([
      'Widget: no CloudFormation schema for AWS::CloudWatch::Widget, with Create=false (and 1 other combinations)',
      'Alarm (AWS::CloudWatch::Alarm) /AlarmActions/0 must NOT have fewer than 1 characters {"limit":1}, with Create=true',
    ]);
  });
});

'use strict';

/**
 * API Gateway's stage as a resource of its own, throttling every route callable without an API
 * key.
 *
 * Usage plans throttle API keys; a route that takes none (the capture page, its assets, the routes
 * a browser calls with a session id) is limited only by the account's limits, so anyone could
 * drive Lambda and DynamoDB up to them through it. Stage method settings throttle a route for all
 * its callers together: each such route gets `custom.publicRouteThrottle` (rate and burst).
 *
 * The framework lets its deployment create the stage (the deployment's StageName), and
 * CloudFormation takes no stage settings from a deployment once its stage exists, which is from
 * the second deploy on. So after the template is complete (the `resources` of deploy/ merged in,
 * so routes defined there are seen too) the stage moves to an AWS::ApiGateway::Stage of its own,
 * pointing at the deployment, and what needs the stage (the usage plan names it) waits for it.
 */
const STAGE_ID = 'ApiGatewayStage';

/** A route's path as a method setting takes it: every `/` of the path as `~1`, after a `/` (`/~1capture`); the root `/`. */
const methodSettingPath = (path) => (path === '' ? '/' : `/${path.replaceAll('/', '~1')}`);

/** The path of an API Gateway resource of the template, from its parents' path parts (the root is ''). */
function resourcePath(resources, resourceId) {
  if (resourceId && resourceId['Fn::GetAtt'] && resourceId['Fn::GetAtt'][1] === 'RootResourceId') return '';
  const id = resourceId && resourceId.Ref;
  const resource = id && resources[id];
  if (!resource || resource.Type !== 'AWS::ApiGateway::Resource') {
    throw new Error(`the stage cannot throttle a method of ${JSON.stringify(resourceId)}: not an API Gateway resource of this template`);
  }
  return `${resourcePath(resources, resource.Properties.ParentId)}/${resource.Properties.PathPart}`;
}

/** A positive number from a parameter (command-line params are strings); `integer` for a burst. */
function limit(name, value, integer) {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isFinite(number) || number <= 0 || (integer && !Number.isInteger(number))) {
    throw new Error(`custom.publicRouteThrottle.${name} must be a positive ${integer ? 'whole number' : 'number'}, got ${JSON.stringify(value)}`);
  }
  return number;
}

/**
 * Moves the stage of the template's one deployment into an AWS::ApiGateway::Stage throttling each
 * method that needs neither an API key nor an authorizer. Changes `template` in place.
 */
function addThrottledStage(template, throttle) {
  const resources = template.Resources;
  const deployments = Object.keys(resources).filter((id) => resources[id].Type === 'AWS::ApiGateway::Deployment');
  if (deployments.length === 0) return;
  if (deployments.length > 1) throw new Error(`the stage needs one API Gateway deployment, the template has ${deployments.join(', ')}`);
  const [deploymentId] = deployments;
  const deployment = resources[deploymentId];
  const stageName = deployment.Properties.StageName;
  if (typeof stageName !== 'string' || stageName === '') throw new Error(`${deploymentId} names no stage`);
  const rateLimit = limit('rateLimit', throttle && throttle.rateLimit, false);
  const burstLimit = limit('burstLimit', throttle && throttle.burstLimit, true);

  const MethodSettings = Object.values(resources)
    .filter((method) => method.Type === 'AWS::ApiGateway::Method')
    .filter(({ Properties: p }) => p.ApiKeyRequired !== true && (p.AuthorizationType === undefined || p.AuthorizationType === 'NONE'))
    .map(({ Properties: p }) => ({
      HttpMethod: p.HttpMethod === 'ANY' ? '*' : p.HttpMethod,
      ResourcePath: methodSettingPath(resourcePath(resources, p.ResourceId)),
      ThrottlingRateLimit: rateLimit,
      ThrottlingBurstLimit: burstLimit,
    }))
    .sort((a, b) => `${a.ResourcePath} ${a.HttpMethod}`.localeCompare(`${b.ResourcePath} ${b.HttpMethod}`));

  delete deployment.Properties.StageName;
  resources[STAGE_ID] = {
    Type: 'AWS::ApiGateway::Stage',
    Properties: { RestApiId: deployment.Properties.RestApiId, DeploymentId: { Ref: deploymentId }, StageName: stageName, MethodSettings },
  };
  for (const [id, resource] of Object.entries(resources)) {
    const dependsOn = resource.DependsOn === undefined ? [] : [].concat(resource.DependsOn);
    if (id !== STAGE_ID && dependsOn.includes(deploymentId)) resource.DependsOn = [...dependsOn, STAGE_ID];
  }
}

class ApiStage {
  constructor(serverless) {
    this.hooks = {
      'before:aws:package:finalize:saveServiceState': () => {
        try {
          addThrottledStage(serverless.service.provider.compiledCloudFormationTemplate, serverless.service.custom.publicRouteThrottle);
        } catch (error) {
          throw new serverless.classes.Error(`deploy/api-stage.cjs: ${error.message}`);
        }
      },
    };
  }
}

module.exports = ApiStage;
module.exports.addThrottledStage = addThrottledStage;

'use strict';

/**
 * The alarms' actions (their AlarmActions and OKActions): the SNS topic of param alarmTopicArn, or
 * none. Without a topic the properties are left out of the template (the framework drops the
 * properties of a resource that are null) rather than given `['']` under a condition that is
 * never true: an action may not be an empty ARN, and CloudFormation's schema checks read both
 * branches of a condition.
 */
module.exports = async ({ resolveVariable }) => {
  const topic = String(await resolveVariable('param:alarmTopicArn')).trim();
  return topic === '' ? null : [topic];
};

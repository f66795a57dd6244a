import { S3RVER_CREDENTIALS } from './s3.ts';

/**
 * Which AWS credentials the functions sign with in a local run (`npm start`, `npm run upload`),
 * whatever the shell holds.
 *
 * When nothing they reach is in AWS (the embedded servers, or endpoints the shell points
 * elsewhere), the shell's credentials and profile are set aside and the embedded servers' own key
 * signs: a profile may not exist on this machine, may call STS or SSO, or run a program, and none
 * of that is needed to talk to servers on 127.0.0.1. When something is in AWS (a Deepvue secret
 * in Secrets Manager, tables named in the shell), the shell's credentials are needed and kept;
 * the embedded S3 accepts any access key (scripts/local/s3.ts), so uploads still work.
 */

/** Every variable through which the SDK finds credentials (the default chain's sources). */
const CREDENTIAL_SOURCES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_CREDENTIAL_EXPIRATION',
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
] as const;

const isSet = (value: string | undefined): value is string => value !== undefined && value.trim() !== '';

/** The AWS services this environment has the functions call in AWS itself, not on a local endpoint. */
export function servicesInAws(env: NodeJS.ProcessEnv): string[] {
  const inAws = (service: string) => !isSet(env.AWS_ENDPOINT_URL) && !isSet(env[`AWS_ENDPOINT_URL_${service}`]);
  const named = (...names: string[]) => names.some((name) => isSet(env[name]));
  return [
    named('DEEPVUE_SECRET_ID', 'SIGNING_KEY_SECRET_ID') && inAws('SECRETS_MANAGER') ? 'Secrets Manager' : undefined,
    named('TOKEN_TABLE', 'RESULTS_TABLE') && inAws('DYNAMODB') ? 'DynamoDB' : undefined,
    named('EVENT_BUS_NAME') && inAws('EVENTBRIDGE') ? 'EventBridge' : undefined,
  ].filter((service): service is string => service !== undefined);
}

/** What the shell holds, in words that name no secret: `AWS_PROFILE=dev`, `access key AKIA…`. */
function shellCredentials(env: NodeJS.ProcessEnv): string | undefined {
  const held = [
    ...['AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_ROLE_ARN'].filter((name) => isSet(env[name])).map((name) => `${name}=${env[name]}`),
    isSet(env.AWS_ACCESS_KEY_ID) ? `access key ${env.AWS_ACCESS_KEY_ID.slice(0, 4)}…` : undefined,
    ...['AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI'].filter((name) => isSet(env[name])),
  ].filter((item): item is string => item !== undefined);
  return held.length === 0 ? undefined : held.join(', ');
}

/**
 * Sets this process's credentials for a local run, once its endpoints are set (the embedded
 * servers'), and returns the start-up line that says which it signs with and why.
 */
export function useLocalCredentials(env: NodeJS.ProcessEnv): string {
  const inAws = servicesInAws(env);
  const held = shellCredentials(env);
  if (inAws.length > 0) {
    return `AWS credentials: the shell's (${held ?? 'the SDK\'s default sources'}), for ${inAws.join(' and ')} in AWS; the embedded S3 accepts them too`;
  }
  for (const name of CREDENTIAL_SOURCES) delete env[name];
  env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
  env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
  return held === undefined
    ? 'AWS credentials: none needed (nothing here is in AWS); the embedded servers\' local key signs'
    : `AWS credentials: the shell's (${held}) are left unused, as nothing here is in AWS; the embedded servers' local key signs`;
}

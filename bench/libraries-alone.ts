/**
 * livenessCheck's start with nothing of ours: the libraries its first request uses, each built
 * as the function builds it at init, and the Node built-ins they load. The bench bundles it as
 * the functions are bundled and imports it beside them (row 2): the floor of their import time
 * while the design keeps these libraries.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { fileTypeFromBuffer } from 'file-type';
import { Pool } from '../lib/deepvue/undici.ts';

export const libraries = {
  table: DynamoDBDocumentClient.from(new DynamoDBClient({})),
  secrets: new SecretsProvider({ awsSdkV3Client: new SecretsManagerClient({}) }),
  deepvue: new Pool('https://production.deepvue.tech', { allowH2: false }),
  logger: new Logger(),
  metrics: new Metrics({ namespace: 'LibrariesAlone' }),
  sniff: fileTypeFromBuffer,
};

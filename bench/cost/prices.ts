/**
 * What AWS charges for each unit the cost bench counts: us-east-1, on-demand list prices, the
 * first tier of each, free tiers left out (they are per account, not per check). Transcribed on
 * the date below from the pricing pages named beside each price; when AWS changes a price,
 * change it here, with the date, and update bench/cost/expected.json (its test says so).
 */
export const PRICES_CHECKED = '2026-12-07';
export const PRICES_REGION = 'us-east-1';

export interface Price {
  /** The line of the bill, as the tables name it. */
  item: string;
  /** What one unit is. */
  unit: string;
  usdPerUnit: number;
  source: string;
}

const LAMBDA = 'https://aws.amazon.com/lambda/pricing/';
const API_GATEWAY = 'https://aws.amazon.com/api-gateway/pricing/';
const DYNAMODB = 'https://aws.amazon.com/dynamodb/pricing/on-demand/';
const SECRETS_MANAGER = 'https://aws.amazon.com/secrets-manager/pricing/';
const S3 = 'https://aws.amazon.com/s3/pricing/';
const SQS = 'https://aws.amazon.com/sqs/pricing/';
const EVENTBRIDGE = 'https://aws.amazon.com/eventbridge/pricing/';
const CLOUDWATCH = 'https://aws.amazon.com/cloudwatch/pricing/';
const TRANSFER = 'https://aws.amazon.com/ec2/pricing/on-demand/#Data_Transfer';

/** The units a run counts, each with its price. Keys are the fields of `Units` (bench/cost/units.ts). */
export const PRICES = {
  lambdaRequests: { item: 'Lambda requests', unit: 'invocation', usdPerUnit: 0.2 / 1e6, source: LAMBDA },
  // The functions run on arm64 (serverless.yml); since August 2025 a cold start's INIT phase is billed alike.
  lambdaGbSeconds: { item: 'Lambda duration (arm64)', unit: 'GB-second', usdPerUnit: 0.0000133334, source: LAMBDA },
  apiRequests: { item: 'API Gateway (REST) requests', unit: 'request', usdPerUnit: 3.5 / 1e6, source: API_GATEWAY },
  dynamoReadUnits: { item: 'DynamoDB reads', unit: 'read request unit', usdPerUnit: 0.125 / 1e6, source: DYNAMODB },
  dynamoWriteUnits: { item: 'DynamoDB writes', unit: 'write request unit', usdPerUnit: 0.625 / 1e6, source: DYNAMODB },
  secretsCalls: { item: 'Secrets Manager calls', unit: 'API call', usdPerUnit: 0.05 / 10_000, source: SECRETS_MANAGER },
  s3PutRequests: { item: 'S3 PUT, COPY, POST, LIST requests', unit: 'request', usdPerUnit: 0.005 / 1000, source: S3 },
  s3GetRequests: { item: 'S3 GET and other requests', unit: 'request', usdPerUnit: 0.0004 / 1000, source: S3 },
  // DELETE requests are free; counted, never priced.
  s3StoredGbMonths: { item: 'S3 storage (Standard)', unit: 'GB-month', usdPerUnit: 0.023, source: S3 },
  sqsRequests: { item: 'SQS requests (standard queue)', unit: 'request (64 KB chunk)', usdPerUnit: 0.4 / 1e6, source: SQS },
  eventBridgeEvents: { item: 'EventBridge custom events', unit: 'event (64 KB chunk)', usdPerUnit: 1 / 1e6, source: EVENTBRIDGE },
  // Lambda's logs: the first tier of the Standard class's tiered pricing for Lambda (May 2025).
  logGb: { item: 'CloudWatch Logs ingestion', unit: 'GB', usdPerUnit: 0.5, source: CLOUDWATCH },
  transferOutGb: { item: 'Data out to the internet', unit: 'GB', usdPerUnit: 0.09, source: TRANSFER },
} as const satisfies Record<string, Price>;

export type PricedUnit = keyof typeof PRICES;

/** Fixed monthly costs that do not grow with checks, for the docs beside the per-check table. */
export const MONTHLY = {
  secret: { item: 'the Deepvue secret', usd: 0.4, source: SECRETS_MANAGER },
  customMetric: { item: 'one custom metric (a name and one set of dimension values)', usd: 0.3, source: CLOUDWATCH },
} as const;

import type { AwsCounts } from './aws-meter.ts';
import type { FunctionUse } from './lambda-meter.ts';
import { PRICES, type PricedUnit } from './prices.ts';

/** Everything a run counted that AWS (or Deepvue) bills, for some number of checks. */
export interface Units extends Omit<AwsCounts, 'operations'> {
  lambdaRequests: number;
  lambdaBilledMs: number;
  lambdaGbSeconds: number;
  apiRequests: number;
  transferOutBytes: number;
  /** Uploads left in the bucket once checked, times the hours its lifecycle rule keeps them. */
  s3StoredByteHours: number;
  /** Log events written to CloudWatch Logs (the functions' lines and Lambda's own) and their message bytes. */
  logLines: number;
  logBytes: number;
}

export const UNIT_NAMES = [
  'lambdaRequests', 'lambdaBilledMs', 'lambdaGbSeconds', 'apiRequests', 'transferOutBytes', 'dynamoReadUnits', 'dynamoWriteUnits',
  'secretsCalls', 's3PutRequests', 's3GetRequests', 's3DeleteRequests', 's3StoredByteHours', 'sqsRequests', 'eventBridgeEvents',
  'logLines', 'logBytes', 'deepvueChecks', 'deepvueAuthorizations',
] as const satisfies ReadonlyArray<keyof Units>;

/** CloudWatch Logs sizes each event as its message plus 26 bytes (PutLogEvents): counted so, to err on the side of the bill. */
export const LOG_EVENT_OVERHEAD_BYTES = 26;
/** AWS's GB in these prices is 2^30 bytes, and S3's month 730 hours. */
const GB = 2 ** 30;
const MONTH_HOURS = 730;

/** The units of what the meters counted. */
export function unitsOf(aws: AwsCounts, functions: Record<string, FunctionUse>, s3StoredByteHours: number): Units {
  const uses = Object.values(functions);
  const sum = (pick: (use: FunctionUse) => number) => uses.reduce((total, use) => total + pick(use), 0);
  const { operations: _operations, ...counted } = aws;
  return {
    ...counted,
    lambdaRequests: sum((use) => use.invocations),
    lambdaBilledMs: sum((use) => use.billedMs),
    lambdaGbSeconds: sum((use) => use.gbSeconds),
    apiRequests: sum((use) => use.apiRequests),
    transferOutBytes: sum((use) => use.transferOutBytes),
    s3StoredByteHours,
    logLines: sum((use) => use.logLines + use.platformLines),
    logBytes: sum((use) => use.logBytes + use.platformBytes),
  };
}

/** `units` scaled by `factor` (per check: 1 / checks; per thousand: 1000 / checks). */
export function scaled(units: Units, factor: number): Units {
  return Object.fromEntries(UNIT_NAMES.map((name) => [name, units[name] * factor])) as unknown as Units;
}

/** The billed quantity of each priced line. */
export function billed(units: Units): Record<PricedUnit, number> {
  return {
    lambdaRequests: units.lambdaRequests,
    lambdaGbSeconds: units.lambdaGbSeconds,
    apiRequests: units.apiRequests,
    dynamoReadUnits: units.dynamoReadUnits,
    dynamoWriteUnits: units.dynamoWriteUnits,
    secretsCalls: units.secretsCalls,
    s3PutRequests: units.s3PutRequests,
    s3GetRequests: units.s3GetRequests,
    s3StoredGbMonths: units.s3StoredByteHours / GB / MONTH_HOURS,
    sqsRequests: units.sqsRequests,
    eventBridgeEvents: units.eventBridgeEvents,
    logGb: (units.logBytes + LOG_EVENT_OVERHEAD_BYTES * units.logLines) / GB,
    transferOutGb: units.transferOutBytes / GB,
  };
}

/** What each priced line costs, in USD. */
export function costs(units: Units): Record<PricedUnit, number> {
  const quantities = billed(units);
  return Object.fromEntries(Object.entries(PRICES).map(([name, price]) => [name, quantities[name as PricedUnit] * price.usdPerUnit])) as Record<PricedUnit, number>;
}

/** The total, in USD. */
export function total(units: Units): number {
  return Object.values(costs(units)).reduce((sum, usd) => sum + usd, 0);
}

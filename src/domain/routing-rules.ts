import { RE2JS } from 're2js';
import { z } from 'zod';

import { globToRegExpSource } from './address-patterns.js';
import { normaliseAddress } from './text.js';
import { describeIssues } from './validation-messages.js';

/**
 * Email routing rules: the rule document an operator writes, and its evaluation over
 * the decoded facts of one message. Pure: no I/O, no clock. docs/routing-rules.md
 * describes the document.
 */

/** Fields a condition compares with several values each: every address, domain, header value or attachment name on its own. */
export const routingTextFields = [
  'from',
  'fromDomain',
  'replyTo',
  'replyToDomain',
  'to',
  'toDomain',
  'cc',
  'ccDomain',
  'subject',
  'body',
  'header',
  'attachmentName',
] as const;

export const routingFields = [...routingTextFields, 'hasAttachment', 'queue', 'workingHours'] as const;
export const routingOperators = ['equals', 'contains', 'startsWith', 'endsWith', 'wildcard', 'regex'] as const;
export const ticketPriorities = ['low', 'normal', 'high', 'urgent'] as const;

export type RoutingField = (typeof routingFields)[number];
export type RoutingOperator = (typeof routingOperators)[number];
export type TicketPriority = (typeof ticketPriorities)[number];

/**
 * Maximum characters of one value that a regular expression searches. The engine (RE2)
 * runs in time linear in its input, so this cap bounds the time one condition takes on
 * a hostile message. Text past the cap is not searched.
 */
export const REGEX_INPUT_LIMIT = 100_000;
/** Maximum pattern length, in characters. */
export const PATTERN_LENGTH_LIMIT = 1000;
/**
 * Maximum characters kept of one capture group. A group such as `(.*)` over a body would
 * otherwise copy the whole text into a custom field and the ticket's routing trail.
 */
export const CAPTURE_LENGTH_LIMIT = 1000;

const textFieldSet = new Set<string>(routingTextFields);
const headerNamePattern = /^[!-9;-~]+$/;

const conditionSchema = z
  .object({
    field: z.enum(routingFields, { error: `must be one of ${routingFields.join(', ')}` }),
    /** Header name for field "header", any letter case. */
    header: z.string().trim().min(1, 'must not be empty').max(200).regex(headerNamePattern, 'must be a header name such as "X-Priority"').optional(),
    operator: z.enum(routingOperators, { error: `must be one of ${routingOperators.join(', ')}` }),
    value: z.union([z.string().max(PATTERN_LENGTH_LIMIT, `must be at most ${PATTERN_LENGTH_LIMIT} characters`), z.number(), z.boolean()], {
      error: 'must be a string, a number (field "queue") or a boolean (field "hasAttachment")',
    }),
    negate: z.boolean().default(false),
  })
  .strict()
  .superRefine((condition, context) => {
    const problem = (path: string, message: string): void => {
      context.addIssue({ code: 'custom', path: [path], message });
    };

    if (condition.field === 'header' && condition.header === undefined) {
      problem('header', 'is required for field "header": give the header name, such as "X-Priority"');
    }
    if (condition.field !== 'header' && condition.header !== undefined) {
      problem('header', 'is only allowed with field "header": remove it');
    }

    if (textFieldSet.has(condition.field)) {
      if (typeof condition.value !== 'string') {
        problem('value', `must be a string for field "${condition.field}"`);
        return;
      }
      if (condition.value === '' && condition.operator !== 'equals') {
        problem('value', `must not be empty for operator "${condition.operator}"`);
        return;
      }
      if (condition.operator === 'regex') {
        const error = regexError(condition.value);
        if (error !== null) problem('value', `is not a valid regular expression (RE2 syntax): ${error}`);
      }
      return;
    }

    if (condition.operator !== 'equals') {
      problem('operator', `must be "equals" for field "${condition.field}"`);
    }
    if (condition.field === 'hasAttachment' && typeof condition.value !== 'boolean') {
      problem('value', 'must be true or false for field "hasAttachment"');
    }
    if (condition.field === 'queue' && !(typeof condition.value === 'number' && Number.isInteger(condition.value) && condition.value > 0)) {
      problem('value', 'must be a queue number such as 3 for field "queue"');
    }
    if (condition.field === 'workingHours' && condition.value !== 'inside' && condition.value !== 'outside') {
      problem('value', 'must be "inside" or "outside" for field "workingHours"');
    }
  });

const referenceName = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
const customFieldName = z
  .string()
  .trim()
  .regex(/^[A-Za-z][A-Za-z0-9_.-]{0,99}$/, 'must be a field name of letters, digits, "_", "." or "-", starting with a letter, such as "orderNumber"');

const actionSchema = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('setCategory'), category: referenceName }).strict(),
    z.object({ type: z.literal('setPriority'), priority: z.enum(ticketPriorities, { error: `must be one of ${ticketPriorities.join(', ')}` }) }).strict(),
    z.object({ type: z.literal('setStatus'), status: referenceName }).strict(),
    z.object({ type: z.literal('setStage'), stage: referenceName }).strict(),
    z.object({ type: z.literal('setOwner'), owner: referenceName }).strict(),
    z.object({ type: z.literal('setCustomField'), field: customFieldName, value: z.string().max(PATTERN_LENGTH_LIMIT) }).strict(),
    z.object({ type: z.literal('addStatuses'), statuses: z.array(referenceName).min(1, 'must name at least one status') }).strict(),
  ],
  { error: 'must be one of setCategory, setPriority, setStatus, setStage, setOwner, setCustomField, addStatuses' },
);

/** A rule as an operator writes it (`mailqueue rules create --file rule.json`). */
export const routingRuleSchema = z
  .object({
    name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
    /** Queue numbers the rule applies to, or "all". */
    queues: z.union([z.literal('all'), z.array(z.number().int().positive()).min(1, 'must list at least one queue number, or be "all"')], {
      error: 'must be "all" or a list of queue numbers such as [1, 3]',
    }).default('all'),
    match: z.enum(['all', 'any'], { error: 'must be "all" or "any"' }).default('all'),
    /** No conditions: the rule matches every message it runs on. */
    conditions: z.array(conditionSchema).max(50, 'must have at most 50 conditions').default([]),
    actions: z.array(actionSchema).min(1, 'must have at least one action').max(50, 'must have at most 50 actions'),
    stopProcessing: z.boolean().default(false),
    runOnReplies: z.boolean().default(false),
    active: z.boolean().default(true),
  })
  .strict()
  .superRefine((rule, context) => {
    rule.actions.forEach((action, index) => {
      if (action.type !== 'setCustomField') return;
      for (const message of captureReferenceErrors(action.value, rule.conditions)) {
        context.addIssue({ code: 'custom', path: ['actions', index, 'value'], message });
      }
    });
  });

export type RoutingRule = z.output<typeof routingRuleSchema>;
export type RoutingCondition = RoutingRule['conditions'][number];
export type RoutingAction = RoutingRule['actions'][number];

/**
 * Checks a rule document's shape. Errors are one line per bad field, `path: problem`,
 * e.g. `conditions.1.value: is not a valid regular expression (RE2 syntax): missing closing )`.
 */
export function parseRoutingRule(document: unknown): { ok: true; rule: RoutingRule } | { ok: false; errors: string[] } {
  const result = routingRuleSchema.safeParse(document);
  if (result.success) return { ok: true, rule: result.data };
  return { ok: false, errors: describeIssues(result.error.issues) };
}

function compileRegex(pattern: string): RE2JS {
  return RE2JS.compile(pattern.normalize('NFC'), RE2JS.CASE_INSENSITIVE);
}

/** Returns the engine's error message for a pattern, or null when the pattern compiles. */
function regexError(pattern: string): string | null {
  try {
    compileRegex(pattern);
    return null;
  } catch (error) {
    return (error instanceof Error ? error.message : String(error)).replace(/^error parsing regexp: /, '');
  }
}

/** `$1`…`$9` (numbered group), `${name}` (named group) and `$$` (a literal "$") in a custom field value. */
const captureReference = /\$(?:(\d)|\{([A-Za-z_][A-Za-z0-9_]*)\}|(\$))/g;

/** Explains every capture reference in `value` that the rule's regular expressions cannot fill. */
function captureReferenceErrors(value: string, conditions: RoutingCondition[]): string[] {
  const regexes = conditions.flatMap((condition) => {
    if (condition.operator !== 'regex' || condition.negate || typeof condition.value !== 'string' || regexError(condition.value) !== null) return [];
    return [compileRegex(condition.value)];
  });
  const errors: string[] = [];

  for (const match of value.matchAll(captureReference)) {
    const [reference, digit, name] = match;
    if (digit !== undefined) {
      const group = Number(digit);
      if (regexes.length !== 1) {
        errors.push(`${reference} needs exactly one non-negated regex condition in the rule (it has ${regexes.length}); with several, use named groups such as (?P<order>\\d+) and \${order}`);
      } else if (group < 1 || group > regexes[0].groupCount()) {
        errors.push(`${reference} refers to group ${group}, but the regex condition has ${regexes[0].groupCount()} capture group(s)`);
      }
    } else if (name !== undefined && !regexes.some((regex) => name in regex.namedGroups())) {
      errors.push(`${reference} names no group of the rule's regex conditions: add (?P<${name}>…) to one of them`);
    }
  }
  return errors;
}

/**
 * Decoded and normalised values of one message that a rule can test. Addresses are
 * trimmed and lowercased, one entry per address. Headers map a lowercase name to every value.
 */
export interface RoutingFacts {
  from: string[];
  fromDomains: string[];
  replyTo: string[];
  replyToDomains: string[];
  to: string[];
  toDomains: string[];
  cc: string[];
  ccDomains: string[];
  subject: string;
  body: string;
  headers: Record<string, string[]>;
  /** Names of the attachments shown as files (inline images referenced from HTML excluded). */
  attachmentNames: string[];
  hasAttachment: boolean;
  queueNumber: number;
  /** Inside working hours; null when the queue has no working hours (always inside). */
  open: boolean | null;
  /** The message joined an existing ticket; only rules with runOnReplies run on it. */
  reply: boolean;
}

/** The stored fields of a message that routing facts are built from. */
export interface RoutingMessage {
  from: Array<{ address: string | null }>;
  replyTo: Array<{ address: string | null }>;
  to: Array<{ address: string | null }>;
  cc: Array<{ address: string | null }>;
  subject: string;
  text: string;
  /** Lowercase names, decoded values, in message order. */
  headers: Array<[name: string, value: string]>;
  attachments: Array<{ filename: string; inline: boolean }>;
  queueNumber: number;
  open: boolean | null;
  reply: boolean;
}

function addressesOf(list: Array<{ address: string | null }>): string[] {
  return list.flatMap((entry) => (entry.address ? [normaliseAddress(entry.address)] : [])).filter((address) => address !== '');
}

function domainsOf(addresses: string[]): string[] {
  const domains = addresses.flatMap((address) => (address.includes('@') ? [address.slice(address.lastIndexOf('@') + 1)] : []));
  return [...new Set(domains.filter((domain) => domain !== ''))];
}

/** Builds the facts of one stored message. Header values are unfolded and trimmed. */
export function buildRoutingFacts(message: RoutingMessage): RoutingFacts {
  const headers: Record<string, string[]> = {};
  for (const [name, value] of message.headers) {
    const key = name.toLowerCase();
    (headers[key] ??= []).push(value.replace(/\r?\n[ \t]+/g, ' ').trim());
  }
  const from = addressesOf(message.from);
  const replyTo = addressesOf(message.replyTo);
  const to = addressesOf(message.to);
  const cc = addressesOf(message.cc);
  const attachmentNames = message.attachments.filter((attachment) => !attachment.inline).map((attachment) => attachment.filename);

  return {
    from,
    fromDomains: domainsOf(from),
    replyTo,
    replyToDomains: domainsOf(replyTo),
    to,
    toDomains: domainsOf(to),
    cc,
    ccDomains: domainsOf(cc),
    subject: message.subject,
    body: message.text,
    headers,
    attachmentNames,
    hasAttachment: attachmentNames.length > 0,
    queueNumber: message.queueNumber,
    open: message.open,
    reply: message.reply,
  };
}

/** A rule as stored: its id and name, in evaluation order. */
export interface StoredRoutingRule {
  id: number;
  name: string;
  rule: RoutingRule;
}

interface ConditionResult {
  matched: boolean;
  captures: Record<string, string>;
}

interface CompiledCondition {
  condition: RoutingCondition;
  test(facts: RoutingFacts): ConditionResult;
}

/** A rule ready to evaluate: patterns compiled once per batch of messages. */
export interface CompiledRoutingRule extends StoredRoutingRule {
  conditions: CompiledCondition[];
}

const noMatch: ConditionResult = { matched: false, captures: {} };

function fold(value: string): string {
  return value.normalize('NFC').toLowerCase();
}

function textValues(facts: RoutingFacts, condition: RoutingCondition): string[] {
  switch (condition.field) {
    case 'from':
      return facts.from;
    case 'fromDomain':
      return facts.fromDomains;
    case 'replyTo':
      return facts.replyTo;
    case 'replyToDomain':
      return facts.replyToDomains;
    case 'to':
      return facts.to;
    case 'toDomain':
      return facts.toDomains;
    case 'cc':
      return facts.cc;
    case 'ccDomain':
      return facts.ccDomains;
    case 'subject':
      return [facts.subject];
    case 'body':
      return [facts.body];
    case 'header':
      return facts.headers[(condition.header ?? '').toLowerCase()] ?? [];
    case 'attachmentName':
      return facts.attachmentNames;
    default:
      return [];
  }
}

/** Builds the test of one value for a text operator; regex tests also return their captures. */
function valueTest(operator: RoutingOperator, pattern: string): (value: string) => ConditionResult {
  const folded = fold(pattern);
  const plain = (matches: (value: string) => boolean) => (value: string): ConditionResult => (matches(fold(value)) ? { matched: true, captures: {} } : noMatch);

  switch (operator) {
    case 'equals':
      return plain((value) => value === folded);
    case 'contains':
      return plain((value) => value.includes(folded));
    case 'startsWith':
      return plain((value) => value.startsWith(folded));
    case 'endsWith':
      return plain((value) => value.endsWith(folded));
    case 'wildcard': {
      const glob = RE2JS.compile(`^(?:${globToRegExpSource(folded)})$`, RE2JS.CASE_INSENSITIVE | RE2JS.DOTALL);
      return plain((value) => glob.test(value));
    }
    case 'regex': {
      const regex = compileRegex(pattern);
      const names = Object.entries(regex.namedGroups());
      return (value: string): ConditionResult => {
        const found = regex.exec(value.normalize('NFC').slice(0, REGEX_INPUT_LIMIT));
        if (found === null) return noMatch;
        const captures: Record<string, string> = {};
        for (let group = 1; group < found.length; group++) {
          if (found[group] !== undefined) captures[String(group)] = found[group].slice(0, CAPTURE_LENGTH_LIMIT);
        }
        for (const [name, group] of names) {
          if (found[group] !== undefined) captures[name] = found[group].slice(0, CAPTURE_LENGTH_LIMIT);
        }
        return { matched: true, captures };
      };
    }
  }
}

/** Compiles one condition. A multi-valued field matches when any of its values does; `negate` turns the whole test around. */
function compileCondition(condition: RoutingCondition): CompiledCondition {
  const negated = (result: ConditionResult): ConditionResult => (condition.negate ? { matched: !result.matched, captures: {} } : result);

  if (condition.field === 'hasAttachment') {
    return { condition, test: (facts) => negated({ matched: facts.hasAttachment === condition.value, captures: {} }) };
  }
  if (condition.field === 'queue') {
    return { condition, test: (facts) => negated({ matched: facts.queueNumber === condition.value, captures: {} }) };
  }
  if (condition.field === 'workingHours') {
    return { condition, test: (facts) => negated({ matched: (facts.open !== false ? 'inside' : 'outside') === condition.value, captures: {} }) };
  }

  const test = valueTest(condition.operator, String(condition.value));
  return {
    condition,
    test: (facts) => {
      for (const value of textValues(facts, condition)) {
        const result = test(value);
        if (result.matched) return negated(result);
      }
      return negated(noMatch);
    },
  };
}

/**
 * Compiles stored rules in their order. A rule that no longer compiles (its document
 * was changed outside `createRoutingRule` and `updateRoutingRule`) is left out and reported, so one bad rule
 * never stops routing.
 */
export function compileRoutingRules(rules: StoredRoutingRule[]): { compiled: CompiledRoutingRule[]; errors: Array<{ id: number; name: string; message: string }> } {
  const compiled: CompiledRoutingRule[] = [];
  const errors: Array<{ id: number; name: string; message: string }> = [];

  for (const stored of rules) {
    const parsed = parseRoutingRule(stored.rule);
    if (!parsed.ok) {
      errors.push({ id: stored.id, name: stored.name, message: parsed.errors.join('; ') });
      continue;
    }
    compiled.push({ ...stored, rule: parsed.rule, conditions: parsed.rule.conditions.map(compileCondition) });
  }
  return { compiled, errors };
}

/** Ticket fields that matched rules set. Absent keys stay as they are. */
export interface RoutingChanges {
  category?: string;
  priority?: TicketPriority;
  status?: string;
  stage?: string;
  /** User alias. */
  owner?: string;
  customFields?: Record<string, string>;
  addStatuses?: string[];
}

export interface MatchedRoutingRule {
  id: number;
  name: string;
  /** Groups of the rule's regex conditions: "1", "2", … and named groups. */
  captures: Record<string, string>;
}

export interface RoutingOutcome {
  matched: MatchedRoutingRule[];
  changes: RoutingChanges;
  /** Custom field actions left out because a capture they use did not match (a regex under match "any"). */
  skipped: Array<{ ruleId: number; action: number; reason: string }>;
}

function appliesTo(rule: CompiledRoutingRule, facts: RoutingFacts): boolean {
  if (!rule.rule.active) return false;
  if (facts.reply && !rule.rule.runOnReplies) return false;
  return rule.rule.queues === 'all' || rule.rule.queues.includes(facts.queueNumber);
}

/** Evaluates one rule's conditions; null when it does not match. */
function matchRule(rule: CompiledRoutingRule, facts: RoutingFacts): Record<string, string> | null {
  if (rule.conditions.length === 0) return {};

  const captures: Record<string, string> = {};
  let anyMatched = false;
  for (const compiled of rule.conditions) {
    const result = compiled.test(facts);
    if (!result.matched && rule.rule.match === 'all') return null;
    if (result.matched) {
      anyMatched = true;
      for (const [key, value] of Object.entries(result.captures)) captures[key] ??= value;
    }
  }
  return anyMatched ? captures : null;
}

/** Fills `$1`, `${name}` and `$$` in a custom field value; null when a referenced group did not match. */
function fillCaptures(template: string, captures: Record<string, string>): string | null {
  let missing = false;
  const filled = template.replace(captureReference, (_reference, digit: string | undefined, name: string | undefined) => {
    const key = digit ?? name;
    if (key === undefined) return '$';
    const value = captures[key];
    if (value === undefined) missing = true;
    return value ?? '';
  });
  return missing ? null : filled;
}

function applyAction(changes: RoutingChanges, action: RoutingAction, captures: Record<string, string>): string | null {
  switch (action.type) {
    case 'setCategory':
      changes.category = action.category;
      return null;
    case 'setPriority':
      changes.priority = action.priority;
      return null;
    case 'setStatus':
      changes.status = action.status;
      return null;
    case 'setStage':
      changes.stage = action.stage;
      return null;
    case 'setOwner':
      changes.owner = action.owner.toLowerCase();
      return null;
    case 'setCustomField': {
      const value = fillCaptures(action.value, captures);
      if (value === null) return `a capture in ${JSON.stringify(action.value)} did not match`;
      changes.customFields = { ...changes.customFields, [action.field]: value };
      return null;
    }
    case 'addStatuses':
      changes.addStatuses = [...new Set([...(changes.addStatuses ?? []), ...action.statuses])];
      return null;
  }
}

/**
 * Runs the rules, in order, that apply to the message (active, for its queue, and for
 * a reply only those with runOnReplies). Each matching rule's actions apply in order;
 * a later rule overrides a field an earlier one set, custom fields merge and added
 * statuses accumulate. A matching rule with stopProcessing ends the evaluation. No
 * matching rule: no changes, so the ticket keeps its queue's category.
 */
export function evaluateRoutingRules(rules: CompiledRoutingRule[], facts: RoutingFacts): RoutingOutcome {
  const outcome: RoutingOutcome = { matched: [], changes: {}, skipped: [] };

  for (const rule of rules) {
    if (!appliesTo(rule, facts)) continue;
    const captures = matchRule(rule, facts);
    if (captures === null) continue;

    outcome.matched.push({ id: rule.id, name: rule.name, captures });
    rule.rule.actions.forEach((action, index) => {
      const skipped = applyAction(outcome.changes, action, captures);
      if (skipped !== null) outcome.skipped.push({ ruleId: rule.id, action: index, reason: skipped });
    });
    if (rule.rule.stopProcessing) break;
  }
  return outcome;
}

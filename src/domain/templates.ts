/**
 * Templates for outgoing mail, written in Handlebars. Pure: no I/O.
 *
 * A template may use only the variables of its kind (exact dotted paths such as
 * `customer.name`) and the block helpers `if` and `unless`. Everything else (`#each`,
 * `#with`, partials, decorators, other helpers) is rejected when the template is saved,
 * so rendering cannot reach data or code that the template author was not meant to use.
 */

import Handlebars from 'handlebars';

import { FailureType, MailqueueError } from '../errors.js';

/** Template kinds, each with its own set of variables. */
export const templateKinds = ['sender-info', 'signature', 'nps-survey', 'autoresponse'] as const;

export type TemplateKind = (typeof templateKinds)[number];

/** The parts of a template; only auto-responses have a subject, and sender-info is text only. */
export type TemplatePart = 'subject' | 'text' | 'html';

/** The text of a template as the operator wrote it. */
export interface TemplateSource {
  subject?: string | null;
  text: string;
  html?: string | null;
}

/** Values a template is rendered with. Only the groups the kind allows are read. */
export interface TemplateContext {
  user?: { alias: string; name: string; email: string };
  queue?: { title: string; number: number };
  ticket?: { number: number; title: string };
  customer?: { name: string; email: string };
}

const userVariables = ['user.alias', 'user.name', 'user.email'];
const queueVariables = ['queue.title', 'queue.number'];
const ticketVariables = ['ticket.number', 'ticket.title'];
const customerVariables = ['customer.name', 'customer.email'];

const variablesByKind: Readonly<Record<TemplateKind, readonly string[]>> = {
  'sender-info': [...userVariables, ...queueVariables],
  signature: [...userVariables, ...queueVariables, ...ticketVariables, ...customerVariables],
  'nps-survey': [...userVariables, ...queueVariables, ...ticketVariables, ...customerVariables],
  autoresponse: [...ticketVariables, ...customerVariables, ...queueVariables],
};

const partsByKind: Readonly<Record<TemplateKind, readonly TemplatePart[]>> = {
  'sender-info': ['text'],
  signature: ['text', 'html'],
  'nps-survey': ['text', 'html'],
  autoresponse: ['subject', 'text', 'html'],
};

const allowedBlockHelpers = new Set(['if', 'unless']);

// A private environment: helpers registered elsewhere in the process never reach templates.
const handlebars = Handlebars.create();
for (const helper of ['each', 'with', 'log', 'lookup']) handlebars.unregisterHelper(helper);

/** Returns true when `value` names a template kind. */
export function isTemplateKind(value: unknown): value is TemplateKind {
  return typeof value === 'string' && (templateKinds as readonly string[]).includes(value);
}

/** Returns the dotted variable paths a template of `kind` may use. */
export function allowedVariables(kind: TemplateKind): readonly string[] {
  return variablesByKind[kind];
}

/** Returns the parts (subject, text, html) a template of `kind` may have. */
export function allowedParts(kind: TemplateKind): readonly TemplatePart[] {
  return partsByKind[kind];
}

type AstNode = hbs.AST.Node;

/** Collects the problems of one parsed part: unknown variables and unsupported constructs. */
class TemplateChecker {
  readonly problems: string[] = [];
  private readonly reportedVariables = new Set<string>();

  constructor(
    private readonly kind: TemplateKind,
    private readonly part: TemplatePart,
  ) {}

  checkProgram(program: hbs.AST.Program): void {
    if (program.blockParams !== undefined && program.blockParams.length > 0) {
      this.problems.push(`${this.part}: block parameters "as |${program.blockParams.join(' ')}|" are not supported: use the variables ${this.allowedList()} directly.`);
    }
    for (const statement of program.body) this.checkStatement(statement);
  }

  private checkStatement(node: AstNode): void {
    switch (node.type) {
      case 'ContentStatement':
      case 'CommentStatement':
        return;

      case 'MustacheStatement':
        this.checkMustache(node as hbs.AST.MustacheStatement);
        return;

      case 'BlockStatement':
        this.checkBlock(node as hbs.AST.BlockStatement);
        return;

      case 'PartialStatement':
      case 'PartialBlockStatement':
        this.problems.push(`${this.part}: partials such as "{{> ${this.nameOf((node as hbs.AST.PartialStatement).name)}}}" are not supported: write the text into the template itself.`);
        return;

      case 'Decorator':
      case 'DecoratorBlock':
        this.problems.push(`${this.part}: decorators such as "{{* ${this.nameOf((node as hbs.AST.Decorator).path)}}}" are not supported: use only variables and {{#if}} / {{#unless}} blocks.`);
        return;

      default:
        this.problems.push(`${this.part}: the Handlebars construct ${node.type} is not supported: use only variables and {{#if}} / {{#unless}} blocks.`);
    }
  }

  private checkMustache(node: hbs.AST.MustacheStatement): void {
    const isHelperCall = node.params.length > 0 || (node.hash?.pairs.length ?? 0) > 0;
    if (isHelperCall) {
      this.rejectHelperCall(this.nameOf(node.path));
    } else {
      this.checkExpression(node.path);
    }

    // Triple braces skip HTML escaping, which would let a customer's name inject markup.
    if (this.part === 'html' && !node.escaped) {
      this.problems.push(`${this.part}: "{{{${this.nameOf(node.path)}}}}" and "{{& ...}}" skip HTML escaping: use double braces "{{${this.nameOf(node.path)}}}".`);
    }

    this.checkArguments(node.params, node.hash);
  }

  private checkBlock(node: hbs.AST.BlockStatement): void {
    const name = this.nameOf(node.path);
    if (!allowedBlockHelpers.has(name)) {
      this.problems.push(`${this.part}: the block helper "{{#${name}}}" is not supported: use only {{#if variable}} and {{#unless variable}}.`);
    } else if (node.params.length !== 1) {
      this.problems.push(`${this.part}: "{{#${name}}}" needs exactly one variable, such as {{#${name} customer.name}}.`);
    }

    this.checkArguments(node.params, node.hash);
    if (node.program) this.checkProgram(node.program);
    if (node.inverse) this.checkProgram(node.inverse);
  }

  private checkArguments(params: hbs.AST.Expression[], hash: hbs.AST.Hash | undefined): void {
    for (const param of params) this.checkExpression(param);
    for (const pair of hash?.pairs ?? []) this.checkExpression(pair.value);
  }

  private checkExpression(node: hbs.AST.Expression): void {
    if (node.type === 'SubExpression') {
      const subExpression = node as hbs.AST.SubExpression;
      this.rejectHelperCall(this.nameOf(subExpression.path));
      this.checkArguments(subExpression.params, subExpression.hash);
      return;
    }

    if (node.type === 'PathExpression') {
      this.checkVariable((node as hbs.AST.PathExpression).original);
    }

    // String, number, boolean, null and undefined literals are allowed as they are.
  }

  private checkVariable(original: string): void {
    // `this.customer.name` and `./customer.name` name the same value as `customer.name`.
    const name = original.replace(/^(this|\.)[./]/, '');
    if (variablesByKind[this.kind].includes(name) || this.reportedVariables.has(original)) return;

    this.reportedVariables.add(original);
    this.problems.push(`${this.part}: unknown variable "${original}" for a ${this.kind} template: use one of ${this.allowedList()}.`);
  }

  private rejectHelperCall(name: string): void {
    const hint = allowedBlockHelpers.has(name) ? ` write it as a block: {{#${name} variable}}...{{/${name}}}` : ' use only variables and {{#if}} / {{#unless}} blocks';
    this.problems.push(`${this.part}: the helper "${name}" is not supported here:${hint}.`);
  }

  private nameOf(node: hbs.AST.Node): string {
    if (node.type === 'PathExpression') return (node as hbs.AST.PathExpression).original;
    if (node.type === 'SubExpression') return `(${this.nameOf((node as hbs.AST.SubExpression).path)} ...)`;
    return String((node as hbs.AST.StringLiteral).original ?? node.type);
  }

  private allowedList(): string {
    return variablesByKind[this.kind].join(', ');
  }
}

/** Parses one part; returns the AST or the Handlebars syntax error as a message. */
function parsePart(part: TemplatePart, source: string): hbs.AST.Program | string {
  try {
    return handlebars.parse(source);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return `${part}: syntax error: ${message.replace(/\s+/g, ' ').trim()}`;
  }
}

function validatePart(kind: TemplateKind, part: TemplatePart, source: string): string[] {
  const parsed = parsePart(part, source);
  if (typeof parsed === 'string') return [parsed];

  const checker = new TemplateChecker(kind, part);
  checker.checkProgram(parsed);
  return checker.problems;
}

function partSource(template: TemplateSource, part: TemplatePart): string | null {
  if (part === 'text') return template.text;
  const value = template[part];
  return value === undefined || value === null || value === '' ? null : value;
}

/**
 * Validates every part of a template for its kind and returns one message per problem.
 * Each message starts with the part (subject, text or html). The problems are unknown
 * variables (named, with the allowed list), syntax errors (with Handlebars' message),
 * helpers other than `if` and `unless`, partials, decorators, triple braces in the html
 * part, and parts the kind does not have. An empty list means the template can be saved.
 */
export function validateTemplate(kind: TemplateKind, template: TemplateSource): string[] {
  const errors: string[] = [];
  const parts = partsByKind[kind];

  for (const part of ['subject', 'html'] as const) {
    if (partSource(template, part) !== null && !parts.includes(part)) {
      errors.push(`${part}: a ${kind} template has no ${part} part: remove it (a ${kind} template has ${parts.join(' and ')}).`);
    }
  }

  if (template.text.trim() === '') {
    errors.push(`text: a ${kind} template needs a text part: write the plain-text version.`);
  }

  for (const part of parts) {
    const source = partSource(template, part);
    if (source !== null) errors.push(...validatePart(kind, part, source));
  }

  return errors;
}

/** Copies only the allowed variables from `context`, so a strict render rejects anything else. */
function restrictContext(kind: TemplateKind, context: TemplateContext): Record<string, Record<string, unknown>> {
  const restricted: Record<string, Record<string, unknown>> = {};
  const groups = context as Record<string, Record<string, unknown> | undefined>;

  for (const variable of variablesByKind[kind]) {
    const [group, field] = variable.split('.');
    // Every allowed group exists, so `{{#if customer.name}}` is false without a customer
    // while `{{customer.name}}` still fails the strict lookup.
    restricted[group] ??= {};

    const source = groups[group];
    if (source !== undefined && source !== null && Object.hasOwn(source, field)) restricted[group][field] = source[field];
  }

  return restricted;
}

/**
 * Renders one part of a template. `subject` and `text` are plain text, so values are
 * inserted as they are; `html` escapes every value (`&`, `<`, `>`, quotes, backtick, `=`).
 * A sender-info result is one line with runs of whitespace collapsed to one space.
 *
 * @returns the rendered part, or null when the template has no such part.
 * @throws MailqueueError (InvalidConfiguration) when the part is invalid for the kind,
 *   or when it uses a variable that `context` does not provide.
 */
export function renderTemplate(kind: TemplateKind, template: TemplateSource, context: TemplateContext, part: TemplatePart): string | null {
  const source = partSource(template, part);
  if (source === null) return null;

  const problems = partsByKind[kind].includes(part) ? validatePart(kind, part, source) : [`${part}: a ${kind} template has no ${part} part.`];
  if (problems.length > 0) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `Template of kind ${kind} cannot be rendered: ${problems.join(' ')}`, { kind, part, problems });
  }

  let rendered: string;
  try {
    const compiled = handlebars.compile(source, {
      noEscape: part !== 'html',
      strict: true,
      knownHelpers: { if: true, unless: true },
      knownHelpersOnly: true,
    });
    rendered = compiled(restrictContext(kind, context));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new MailqueueError(FailureType.InvalidConfiguration, `Template of kind ${kind} failed to render its ${part} part: ${message}. Pass every variable the template uses.`, { kind, part }, { cause: error });
  }

  return kind === 'sender-info' ? rendered.replace(/\s+/g, ' ').trim() : rendered;
}

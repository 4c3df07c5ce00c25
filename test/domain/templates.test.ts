import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { allowedVariables, renderTemplate, templateKinds, validateTemplate, type TemplateContext } from '../../src/domain/templates.js';

const context: TemplateContext = {
  user: { alias: 'jan.novak', name: 'Jan Novák', email: 'jan.novak@example.com' },
  queue: { title: 'Printer support', number: 3 },
  ticket: { number: 100042, title: 'Toner & paper <urgent>' },
  customer: { name: 'Eve <script>alert(1)</script>', email: 'eve@example.net' },
};

describe('validateTemplate', () => {
  test('accepts allowed variables', () => {
    const errors = validateTemplate('signature', { text: '{{user.name}}, {{queue.title}} (ticket {{ticket.number}})', html: '<p>{{#if customer.name}}Dear {{customer.name}}{{/if}}</p>' });

    assert.deepEqual(errors, []);
  });

  test('rejects unknown variable by name', () => {
    const errors = validateTemplate('signature', { text: 'Call {{customer.phone}}' });

    assert.equal(errors.length, 1);
    assert.match(errors[0], /"customer\.phone"/);
    assert.match(errors[0], /^text:/);
    assert.match(errors[0], /customer\.email/);
  });

  test('rejects user in autoresponse', () => {
    const errors = validateTemplate('autoresponse', { subject: 'Re: {{ticket.title}}', text: 'Thanks, {{user.name}}' });

    assert.equal(errors.length, 1);
    assert.match(errors[0], /"user\.name"/);
  });

  test('reports part of variable', () => {
    const errors = validateTemplate('autoresponse', { subject: '[{{ticket.id}}]', text: 'ok', html: '<b>{{ticket.owner}}</b>' });

    assert.equal(errors.length, 2);
    assert.match(errors[0], /^subject: .*"ticket\.id"/);
    assert.match(errors[1], /^html: .*"ticket\.owner"/);
  });

  test('rejects each block', () => {
    const errors = validateTemplate('signature', { text: '{{#each customer}}{{this}}{{/each}}' });

    assert.ok(errors.some((error) => /"\{\{#each\}\}" is not supported/.test(error)), errors.join('\n'));
  });

  test('rejects partial', () => {
    const errors = validateTemplate('signature', { text: 'Hello {{> footer}}' });

    assert.equal(errors.length, 1);
    assert.match(errors[0], /partials/);
    assert.match(errors[0], /footer/);
  });

  test('rejects other helper call', () => {
    const errors = validateTemplate('signature', { text: '{{lookup customer "name"}}' });

    assert.ok(errors.some((error) => /helper "lookup"/.test(error)), errors.join('\n'));
  });

  test('rejects variable in sub-expression', () => {
    const errors = validateTemplate('signature', { text: '{{#if (eq customer.vip true)}}VIP{{/if}}' });

    assert.ok(errors.some((error) => /helper "eq"/.test(error)), errors.join('\n'));
    assert.ok(errors.some((error) => /"customer\.vip"/.test(error)), errors.join('\n'));
  });

  test('rejects triple braces in html', () => {
    const errors = validateTemplate('signature', { text: 'x', html: '<p>{{{customer.name}}}</p>' });

    assert.equal(errors.length, 1);
    assert.match(errors[0], /HTML escaping/);
  });

  test('reports syntax error message', () => {
    const errors = validateTemplate('signature', { text: 'Hello {{customer.name' });

    assert.equal(errors.length, 1);
    assert.match(errors[0], /^text: syntax error: Parse error/);
  });

  test('rejects html in sender-info', () => {
    const errors = validateTemplate('sender-info', { text: '{{user.name}}', html: '<b>{{user.name}}</b>' });

    assert.equal(errors.length, 1);
    assert.match(errors[0], /^html: a sender-info template has no html part/);
  });

  test('every kind has variables', () => {
    for (const kind of templateKinds) assert.ok(allowedVariables(kind).length > 0, kind);
  });
});

describe('renderTemplate', () => {
  test('renders sender-info line', () => {
    const rendered = renderTemplate('sender-info', { text: '{{user.alias}} from {{queue.title}}' }, context, 'text');

    assert.equal(rendered, 'jan.novak from Printer support');
  });

  test('collapses sender-info whitespace', () => {
    const rendered = renderTemplate('sender-info', { text: '  {{user.name}}\n\n  ({{queue.title}})  ' }, context, 'text');

    assert.equal(rendered, 'Jan Novák (Printer support)');
  });

  test('escapes html part', () => {
    const rendered = renderTemplate('signature', { text: 'x', html: '<p>{{ticket.title}}</p>' }, context, 'html');

    assert.equal(rendered, '<p>Toner &amp; paper &lt;urgent&gt;</p>');
  });

  test('leaves text part unescaped', () => {
    const rendered = renderTemplate('signature', { text: 'Ticket: {{ticket.title}}' }, context, 'text');

    assert.equal(rendered, 'Ticket: Toner & paper <urgent>');
  });

  test('escapes script in customer name', () => {
    const rendered = renderTemplate('autoresponse', { subject: 's', text: 't', html: '<p>Dear {{customer.name}},</p>' }, context, 'html');

    assert.ok(rendered !== null);
    assert.equal(rendered.includes('<script>'), false);
    assert.match(rendered, /Dear Eve &lt;script&gt;alert\(1\)&lt;\/script&gt;,/);
  });

  test('renders if and unless blocks', () => {
    const template = { subject: '{{#if customer.name}}Hello {{customer.name}}{{else}}Hello{{/if}}', text: '{{#unless ticket.title}}untitled{{/unless}}' };

    assert.equal(renderTemplate('autoresponse', template, { ...context, customer: { name: '', email: 'x@example.com' } }, 'subject'), 'Hello');
    assert.equal(renderTemplate('autoresponse', template, context, 'text'), '');
  });

  test('returns null for missing part', () => {
    assert.equal(renderTemplate('autoresponse', { text: 'only text' }, context, 'html'), null);
  });

  test('throws for missing context value', () => {
    assert.throws(() => renderTemplate('autoresponse', { text: 'Dear {{customer.name}}' }, { ticket: { number: 1, title: 't' } }, 'text'), /failed to render its text part/);
  });

  test('throws for user in autoresponse', () => {
    assert.throws(() => renderTemplate('autoresponse', { text: 'From {{user.name}}' }, context, 'text'), /"user\.name"/);
  });
});

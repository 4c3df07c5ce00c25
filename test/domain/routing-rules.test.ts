import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  buildRoutingFacts,
  compileRoutingRules,
  evaluateRoutingRules,
  parseRoutingRule,
  routingOperators,
  type RoutingFacts,
  type RoutingMessage,
  type RoutingOperator,
  type RoutingRule,
} from '../../src/domain/routing-rules.js';
import { parseMessage } from '../../src/mail/parse.js';

const message: RoutingMessage = {
  from: [{ address: 'Anna.Kovacs@Customer.Example.org' }],
  replyTo: [{ address: 'billing-replies@accounts.example.net' }],
  to: [{ address: 'support@helpdesk.example.com' }, { address: 'Sales@Helpdesk.Example.com' }, { address: 'team@partner.example' }],
  cc: [{ address: 'boss@management.example.org' }],
  subject: 'Objednávka č. 4711 nefunguje',
  text: 'Hello,\nmy order ORD-20931 arrived broken.\nRegards, Anna',
  headers: [
    ['x-priority', '1 (Highest)'],
    ['received', 'from relay.example.net by mx.helpdesk.example.com'],
    ['received', 'from laptop.customer.example.org by relay.example.net'],
    ['x-customer-tier', 'Gold'],
  ],
  attachments: [
    { filename: 'invoice-4711.pdf', inline: false },
    { filename: 'logo.png', inline: true },
  ],
  queueNumber: 3,
  open: true,
  reply: false,
};
const facts = buildRoutingFacts(message);

/** Builds a rule with defaults filled in, as parseRoutingRule does; throws when the document is invalid. */
function rule(document: Record<string, unknown>): RoutingRule {
  const parsed = parseRoutingRule({ name: 'test rule', actions: [{ type: 'setPriority', priority: 'high' }], ...document });
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
  return parsed.rule;
}

function evaluate(rules: RoutingRule[], on: RoutingFacts = facts) {
  const { compiled, errors } = compileRoutingRules(rules.map((document, index) => ({ id: index + 1, name: document.name, rule: document })));
  assert.deepEqual(errors, []);
  return evaluateRoutingRules(compiled, on);
}

function conditionMatches(condition: Record<string, unknown>, on: RoutingFacts = facts): boolean {
  return evaluate([rule({ conditions: [condition] })], on).matched.length === 1;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * One target value per text field, in the letter case the facts hold. For fields with
 * several values the target is not the first one, so each value is tested on its own.
 */
const targets: Array<{ field: string; header?: string; value: string }> = [
  { field: 'from', value: 'anna.kovacs@customer.example.org' },
  { field: 'fromDomain', value: 'customer.example.org' },
  { field: 'replyTo', value: 'billing-replies@accounts.example.net' },
  { field: 'replyToDomain', value: 'accounts.example.net' },
  { field: 'to', value: 'sales@helpdesk.example.com' },
  { field: 'toDomain', value: 'partner.example' },
  { field: 'cc', value: 'boss@management.example.org' },
  { field: 'ccDomain', value: 'management.example.org' },
  { field: 'subject', value: 'Objednávka č. 4711 nefunguje' },
  { field: 'body', value: message.text },
  { field: 'header', header: 'Received', value: 'from laptop.customer.example.org by relay.example.net' },
  { field: 'attachmentName', value: 'invoice-4711.pdf' },
];

/** A pattern that must match the target under each operator, written in other letter case where case can differ. */
function matchingPattern(operator: RoutingOperator, value: string): string {
  switch (operator) {
    case 'equals':
      return value.toUpperCase();
    case 'contains':
      return value.slice(3, -3).toUpperCase();
    case 'startsWith':
      return value.slice(0, 6).toUpperCase();
    case 'endsWith':
      return value.slice(-6).toUpperCase();
    case 'wildcard':
      return `${value[0].toUpperCase()}?${value.slice(2, 4)}*${value.slice(-3)}`;
    case 'regex':
      return `^${escapeRegex(value.slice(0, 3))}[\\s\\S]*${escapeRegex(value.slice(-2))}$`;
  }
}

/** A pattern that must not match: a part of the target at the wrong place, or absent text. */
function missingPattern(operator: RoutingOperator, value: string): string {
  switch (operator) {
    case 'equals':
      return value.slice(1);
    case 'contains':
      return 'absent-text-zq';
    case 'startsWith':
      return value.slice(1, 7);
    case 'endsWith':
      return value.slice(-7, -1);
    case 'wildcard':
      return value.slice(1, -1);
    case 'regex':
      return `^${escapeRegex(value.slice(1, 5))}`;
  }
}

describe('routing conditions: every operator on every text field', () => {
  for (const target of targets) {
    for (const operator of routingOperators) {
      const base = { field: target.field, ...(target.header ? { header: target.header } : {}), operator };
      const hit = matchingPattern(operator, target.value);
      const miss = missingPattern(operator, target.value);

      test(`${target.field} ${operator} matches`, () => {
        assert.equal(conditionMatches({ ...base, value: hit }), true, `${target.field} ${operator} ${JSON.stringify(hit)}`);
      });
      test(`${target.field} ${operator} does not match elsewhere`, () => {
        assert.equal(conditionMatches({ ...base, value: miss }), false, `${target.field} ${operator} ${JSON.stringify(miss)}`);
      });
      test(`${target.field} ${operator} negated`, () => {
        assert.equal(conditionMatches({ ...base, value: hit, negate: true }), false);
        assert.equal(conditionMatches({ ...base, value: miss, negate: true }), true);
      });
    }
  }
});

describe('routing conditions: fields and values', () => {
  const rows: Array<{ name: string; condition: Record<string, unknown>; on?: Partial<RoutingFacts>; expected: boolean }> = [
    { name: 'each To address is tested on its own', condition: { field: 'to', operator: 'equals', value: 'team@partner.example' }, expected: true },
    { name: 'a To address is not the joined list', condition: { field: 'to', operator: 'contains', value: 'support@helpdesk.example.com, sales' }, expected: false },
    { name: 'domain is the part after @ only', condition: { field: 'fromDomain', operator: 'equals', value: 'example.org' }, expected: false },
    { name: 'domain wildcard reaches subdomains', condition: { field: 'fromDomain', operator: 'wildcard', value: '*.example.org' }, expected: true },
    { name: 'negated To: no address matches', condition: { field: 'to', operator: 'endsWith', value: '@other.example', negate: true }, expected: true },
    { name: 'negated To: one address matches', condition: { field: 'to', operator: 'endsWith', value: '@partner.example', negate: true }, expected: false },
    { name: 'no Cc: a positive test fails', condition: { field: 'cc', operator: 'contains', value: '@' }, on: { cc: [], ccDomains: [] }, expected: false },
    { name: 'no Cc: a negated test holds', condition: { field: 'cc', operator: 'contains', value: '@', negate: true }, on: { cc: [], ccDomains: [] }, expected: true },
    { name: 'header name in any case', condition: { field: 'header', header: 'X-PRIORITY', operator: 'startsWith', value: '1' }, expected: true },
    { name: 'first of several header values', condition: { field: 'header', header: 'received', operator: 'contains', value: 'mx.helpdesk' }, expected: true },
    { name: 'absent header does not match', condition: { field: 'header', header: 'X-Spam-Flag', operator: 'equals', value: 'YES' }, expected: false },
    { name: 'absent header negated holds', condition: { field: 'header', header: 'X-Spam-Flag', operator: 'equals', value: 'YES', negate: true }, expected: true },
    { name: 'inline image is not an attachment name', condition: { field: 'attachmentName', operator: 'equals', value: 'logo.png' }, expected: false },
    { name: 'has attachment', condition: { field: 'hasAttachment', operator: 'equals', value: true }, expected: true },
    { name: 'has no attachment', condition: { field: 'hasAttachment', operator: 'equals', value: false }, expected: false },
    { name: 'inline images only: no attachment', condition: { field: 'hasAttachment', operator: 'equals', value: true }, on: { hasAttachment: false, attachmentNames: [] }, expected: false },
    { name: 'queue number', condition: { field: 'queue', operator: 'equals', value: 3 }, expected: true },
    { name: 'other queue number', condition: { field: 'queue', operator: 'equals', value: 4 }, expected: false },
    { name: 'negated queue number', condition: { field: 'queue', operator: 'equals', value: 4, negate: true }, expected: true },
    { name: 'inside working hours', condition: { field: 'workingHours', operator: 'equals', value: 'inside' }, expected: true },
    { name: 'outside working hours when closed', condition: { field: 'workingHours', operator: 'equals', value: 'outside' }, on: { open: false }, expected: true },
    { name: 'no working hours counts as inside', condition: { field: 'workingHours', operator: 'equals', value: 'inside' }, on: { open: null }, expected: true },
    { name: 'no working hours is never outside', condition: { field: 'workingHours', operator: 'equals', value: 'outside' }, on: { open: null }, expected: false },
    { name: 'decomposed pattern matches composed subject', condition: { field: 'subject', operator: 'contains', value: 'Objedna\u0301vka' }, expected: true },
    { name: 'composed pattern matches decomposed subject', condition: { field: 'subject', operator: 'contains', value: 'objednávka' }, on: { subject: 'Objedna\u0301vka' }, expected: true },
    { name: 'regex is case-insensitive on non-ASCII', condition: { field: 'subject', operator: 'regex', value: 'OBJEDNÁVKA Č\\. \\d+' }, expected: true },
    { name: 'wildcard is anchored', condition: { field: 'subject', operator: 'wildcard', value: 'objednávka' }, expected: false },
    { name: 'wildcard dot is literal', condition: { field: 'attachmentName', operator: 'wildcard', value: 'invoice-4711?pdf' }, expected: true },
    { name: 'wildcard star is not a regex', condition: { field: 'attachmentName', operator: 'wildcard', value: 'invoice.*' }, expected: false },
    { name: 'regex is unanchored unless written so', condition: { field: 'body', operator: 'regex', value: 'ORD-\\d{5}' }, expected: true },
    { name: 'equals empty matches empty subject', condition: { field: 'subject', operator: 'equals', value: '' }, on: { subject: '' }, expected: true },
  ];

  for (const row of rows) {
    test(row.name, () => {
      assert.equal(conditionMatches(row.condition, { ...facts, ...row.on }), row.expected);
    });
  }
});

describe('routing rules: decoded messages', () => {
  test('encoded-word subject and several To addresses are decoded', async () => {
    const raw = Buffer.from(
      [
        'From: =?UTF-8?Q?Ji=C5=99=C3=AD_Nov=C3=A1k?= <Jiri.Novak@Shop.Example.org>',
        'To: support@helpdesk.example.com, "Sales Desk" <SALES@helpdesk.example.com>',
        'Subject: =?UTF-8?Q?Reklamace_zbo=C5=BE=C3=AD?= =?UTF-8?Q?_=C4=8D=2E_552?=',
        'Message-ID: <routing-decoded@shop.example.org>',
        'Date: Mon, 02 Mar 2026 10:00:00 +0000',
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'Zboží dorazilo poškozené.',
        '',
      ].join('\r\n'),
    );
    const parsed = await parseMessage(raw);
    const decoded = buildRoutingFacts({ ...parsed, attachments: parsed.attachments, queueNumber: 1, open: null, reply: false });

    assert.deepEqual(decoded.to, ['support@helpdesk.example.com', 'sales@helpdesk.example.com']);
    assert.equal(conditionMatches({ field: 'subject', operator: 'startsWith', value: 'reklamace zboží č.' }, decoded), true);
    assert.equal(conditionMatches({ field: 'to', operator: 'equals', value: 'sales@helpdesk.example.com' }, decoded), true);
    assert.equal(conditionMatches({ field: 'fromDomain', operator: 'equals', value: 'shop.example.org' }, decoded), true);
    assert.equal(conditionMatches({ field: 'body', operator: 'contains', value: 'POŠKOZENÉ' }, decoded), true);
  });
});

describe('routing rules: evaluation', () => {
  const billing = { type: 'setCategory', category: 'Billing' };

  test('no matching rule changes nothing', () => {
    const outcome = evaluate([rule({ conditions: [{ field: 'subject', operator: 'contains', value: 'refund' }], actions: [billing] })]);
    assert.deepEqual(outcome, { matched: [], changes: {}, skipped: [] });
  });

  test('match all needs every condition', () => {
    const conditions = [
      { field: 'subject', operator: 'contains', value: '4711' },
      { field: 'fromDomain', operator: 'equals', value: 'other.example' },
    ];
    assert.equal(evaluate([rule({ match: 'all', conditions })]).matched.length, 0);
    assert.equal(evaluate([rule({ match: 'any', conditions })]).matched.length, 1);
  });

  test('match any fails when no condition holds', () => {
    const conditions = [
      { field: 'subject', operator: 'contains', value: 'refund' },
      { field: 'fromDomain', operator: 'equals', value: 'other.example' },
    ];
    assert.equal(evaluate([rule({ match: 'any', conditions })]).matched.length, 0);
  });

  test('a rule without conditions matches every message', () => {
    assert.deepEqual(evaluate([rule({ actions: [billing] })]).changes, { category: 'Billing' });
  });

  test('every action sets its field', () => {
    const outcome = evaluate([
      rule({
        actions: [
          billing,
          { type: 'setPriority', priority: 'urgent' },
          { type: 'setStatus', status: 'open' },
          { type: 'setStage', stage: 'triage' },
          { type: 'setOwner', owner: 'Jan.Novak' },
          { type: 'setCustomField', field: 'tier', value: 'gold' },
          { type: 'addStatuses', statuses: ['vip', 'escalated'] },
        ],
      }),
    ]);
    assert.deepEqual(outcome.changes, {
      category: 'Billing',
      priority: 'urgent',
      status: 'open',
      stage: 'triage',
      owner: 'jan.novak',
      customFields: { tier: 'gold' },
      addStatuses: ['vip', 'escalated'],
    });
  });

  test('a regex capture fills a custom field', () => {
    const outcome = evaluate([
      rule({
        conditions: [{ field: 'body', operator: 'regex', value: 'order (ORD-(\\d+))' }],
        actions: [
          { type: 'setCustomField', field: 'orderNumber', value: '$2' },
          { type: 'setCustomField', field: 'orderLabel', value: 'Order $1 costs $$5' },
        ],
      }),
    ]);
    assert.deepEqual(outcome.changes.customFields, { orderNumber: '20931', orderLabel: 'Order ORD-20931 costs $5' });
    assert.deepEqual(outcome.matched[0].captures, { '1': 'ORD-20931', '2': '20931' });
  });

  test('a long capture is cut', () => {
    const outcome = evaluate(
      [rule({ conditions: [{ field: 'body', operator: 'regex', value: '^(.*)$' }], actions: [{ type: 'setCustomField', field: 'all', value: '$1' }] })],
      { ...facts, body: 'x'.repeat(5000) },
    );
    assert.equal(outcome.changes.customFields?.all, 'x'.repeat(1000));
  });

  test('named captures come from several regex conditions', () => {
    const outcome = evaluate([
      rule({
        conditions: [
          { field: 'subject', operator: 'regex', value: '(?P<ticket>\\d{4})' },
          { field: 'body', operator: 'regex', value: 'ORD-(?P<order>\\d+)' },
        ],
        actions: [{ type: 'setCustomField', field: 'reference', value: '${ticket}/${order}' }],
      }),
    ]);
    assert.deepEqual(outcome.changes.customFields, { reference: '4711/20931' });
  });

  test('an unmatched capture under match any skips its action', () => {
    const outcome = evaluate([
      rule({
        match: 'any',
        conditions: [
          { field: 'subject', operator: 'contains', value: '4711' },
          { field: 'body', operator: 'regex', value: 'invoice (?P<invoice>\\d+)' },
        ],
        actions: [billing, { type: 'setCustomField', field: 'invoice', value: '${invoice}' }],
      }),
    ]);
    assert.deepEqual(outcome.changes, { category: 'Billing' });
    assert.equal(outcome.skipped.length, 1);
    assert.equal(outcome.skipped[0].action, 1);
  });

  test('a later rule overrides and added statuses accumulate', () => {
    const outcome = evaluate([
      rule({ name: 'first', actions: [billing, { type: 'addStatuses', statuses: ['vip'] }] }),
      rule({ name: 'second', actions: [{ type: 'setCategory', category: 'Sales' }, { type: 'addStatuses', statuses: ['vip', 'escalated'] }] }),
    ]);
    assert.deepEqual(outcome.changes, { category: 'Sales', addStatuses: ['vip', 'escalated'] });
    assert.deepEqual(outcome.matched.map((matched) => matched.name), ['first', 'second']);
  });

  test('stopProcessing ends evaluation', () => {
    const outcome = evaluate([rule({ name: 'first', actions: [billing], stopProcessing: true }), rule({ name: 'second', actions: [{ type: 'setCategory', category: 'Sales' }] })]);
    assert.deepEqual(outcome.changes, { category: 'Billing' });
    assert.deepEqual(outcome.matched.map((matched) => matched.name), ['first']);
  });

  test('stopProcessing of a rule that did not match changes nothing', () => {
    const outcome = evaluate([
      rule({ name: 'first', conditions: [{ field: 'subject', operator: 'contains', value: 'refund' }], actions: [billing], stopProcessing: true }),
      rule({ name: 'second', actions: [{ type: 'setCategory', category: 'Sales' }] }),
    ]);
    assert.deepEqual(outcome.matched.map((matched) => matched.name), ['second']);
  });

  test('a reply runs only rules with runOnReplies', () => {
    const rules = [rule({ name: 'new only', actions: [billing] }), rule({ name: 'replies too', runOnReplies: true, actions: [{ type: 'setPriority', priority: 'high' }] })];
    assert.deepEqual(evaluate(rules, { ...facts, reply: true }).matched.map((matched) => matched.name), ['replies too']);
    assert.deepEqual(evaluate(rules).matched.map((matched) => matched.name), ['new only', 'replies too']);
  });

  test('a rule runs only for its queues', () => {
    assert.equal(evaluate([rule({ queues: [1, 2] })]).matched.length, 0);
    assert.equal(evaluate([rule({ queues: [2, 3] })]).matched.length, 1);
    assert.equal(evaluate([rule({ queues: 'all' })]).matched.length, 1);
  });

  test('an inactive rule does not run', () => {
    assert.equal(evaluate([rule({ active: false })]).matched.length, 0);
  });

  test('a stored rule that no longer compiles is reported and left out', () => {
    const broken = { ...rule({}), conditions: [{ field: 'subject', operator: 'regex', value: '(unclosed', negate: false }] } as RoutingRule;
    const { compiled, errors } = compileRoutingRules([
      { id: 7, name: 'broken', rule: broken },
      { id: 8, name: 'fine', rule: rule({}) },
    ]);
    assert.deepEqual(compiled.map((entry) => entry.id), [8]);
    assert.equal(errors[0].id, 7);
    assert.match(errors[0].message, /conditions\.0\.value/);
  });
});

describe('routing rules: hostile input', () => {
  const longInput = `${'a'.repeat(50_000)}!`;

  for (const pattern of ['(a+)+$', '(a|aa)+$', '(a*)*b', '^(a+)+\\d$', '(.*a){20}']) {
    test(`pattern ${pattern} on 50 kB returns`, () => {
      const outcome = evaluate([rule({ conditions: [{ field: 'body', operator: 'regex', value: pattern }] })], { ...facts, body: longInput });
      assert.equal(outcome.matched.length, pattern === '(.*a){20}' ? 1 : 0);
    });
  }

  test('wildcard with many stars on 50 kB returns', () => {
    const outcome = evaluate([rule({ conditions: [{ field: 'subject', operator: 'wildcard', value: '*a*a*a*a*a*a*a*a*b' }] })], { ...facts, subject: longInput });
    assert.equal(outcome.matched.length, 0);
  });
});

describe('parseRoutingRule', () => {
  const valid = { name: 'VIP customers', actions: [{ type: 'setPriority', priority: 'high' }] };
  const rows: Array<{ name: string; document: Record<string, unknown>; error: RegExp }> = [
    { name: 'unknown field', document: { conditions: [{ field: 'form', operator: 'equals', value: 'x' }] }, error: /^conditions\.0\.field: must be one of from,/ },
    { name: 'unknown operator', document: { conditions: [{ field: 'from', operator: 'like', value: 'x' }] }, error: /^conditions\.0\.operator: must be one of equals,/ },
    { name: 'bad regex', document: { conditions: [{ field: 'subject', operator: 'regex', value: '(unclosed' }] }, error: /^conditions\.0\.value: is not a valid regular expression \(RE2 syntax\): missing closing \)/ },
    { name: 'lookahead is not RE2', document: { conditions: [{ field: 'subject', operator: 'regex', value: 'a(?=b)' }] }, error: /^conditions\.0\.value: is not a valid regular expression/ },
    { name: 'header without name', document: { conditions: [{ field: 'header', operator: 'equals', value: 'x' }] }, error: /^conditions\.0\.header: is required for field "header"/ },
    { name: 'header name on another field', document: { conditions: [{ field: 'subject', header: 'X-A', operator: 'equals', value: 'x' }] }, error: /^conditions\.0\.header: is only allowed with field "header"/ },
    { name: 'empty contains', document: { conditions: [{ field: 'subject', operator: 'contains', value: '' }] }, error: /^conditions\.0\.value: must not be empty for operator "contains"/ },
    { name: 'number for a text field', document: { conditions: [{ field: 'subject', operator: 'equals', value: 5 }] }, error: /^conditions\.0\.value: must be a string for field "subject"/ },
    { name: 'queue value not a number', document: { conditions: [{ field: 'queue', operator: 'equals', value: 'three' }] }, error: /^conditions\.0\.value: must be a queue number/ },
    { name: 'queue with contains', document: { conditions: [{ field: 'queue', operator: 'contains', value: 3 }] }, error: /^conditions\.0\.operator: must be "equals" for field "queue"/ },
    { name: 'working hours value', document: { conditions: [{ field: 'workingHours', operator: 'equals', value: 'closed' }] }, error: /^conditions\.0\.value: must be "inside" or "outside"/ },
    { name: 'attachment flag not boolean', document: { conditions: [{ field: 'hasAttachment', operator: 'equals', value: 'yes' }] }, error: /^conditions\.0\.value: must be true or false/ },
    { name: 'unknown action', document: { actions: [{ type: 'deleteTicket' }] }, error: /^actions\.0\.type: must be one of setCategory,/ },
    { name: 'bad priority', document: { actions: [{ type: 'setPriority', priority: 'critical' }] }, error: /^actions\.0\.priority: must be one of low, normal, high, urgent/ },
    { name: 'no actions', document: { actions: [] }, error: /^actions: must have at least one action/ },
    { name: 'numbered capture without regex', document: { actions: [{ type: 'setCustomField', field: 'order', value: '$1' }] }, error: /^actions\.0\.value: \$1 needs exactly one non-negated regex condition/ },
    {
      name: 'capture group out of range',
      document: { conditions: [{ field: 'subject', operator: 'regex', value: '(\\d+)' }], actions: [{ type: 'setCustomField', field: 'order', value: '$2' }] },
      error: /^actions\.0\.value: \$2 refers to group 2, but the regex condition has 1 capture group/,
    },
    {
      name: 'unknown named capture',
      document: { conditions: [{ field: 'subject', operator: 'regex', value: '(?P<order>\\d+)' }], actions: [{ type: 'setCustomField', field: 'order', value: '${invoice}' }] },
      error: /^actions\.0\.value: \$\{invoice\} names no group/,
    },
    { name: 'bad custom field name', document: { actions: [{ type: 'setCustomField', field: '1 bad', value: 'x' }] }, error: /^actions\.0\.field: must be a field name/ },
    { name: 'queues neither all nor numbers', document: { queues: 'some' }, error: /^queues: must be "all" or a list of queue numbers/ },
    { name: 'unknown top-level key', document: { stopProcesing: true }, error: /^stopProcesing: unknown field/ },
    { name: 'missing name', document: { name: undefined }, error: /^name: is required/ },
  ];

  for (const row of rows) {
    test(`rejects ${row.name}`, () => {
      const parsed = parseRoutingRule({ ...valid, ...row.document });
      assert.equal(parsed.ok, false);
      if (parsed.ok) return;
      assert.ok(parsed.errors.some((error) => row.error.test(error)), `no error matches ${row.error}: ${parsed.errors.join(' | ')}`);
    });
  }

  test('fills defaults', () => {
    const parsed = parseRoutingRule(valid);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.rule, { ...valid, queues: 'all', match: 'all', conditions: [], stopProcessing: false, runOnReplies: false, active: true });
  });
});

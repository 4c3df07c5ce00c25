import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { startQueueWorkflow } from '../../src/client/queue-control.js';
import { createCategory } from '../../src/db/categories.js';
import { createRoutingRule } from '../../src/db/routing-rules.js';
import type { QueueRecord } from '../../src/db/queues.js';
import { grantCategory } from '../../src/db/users.js';
import { createOutgoingQueue, customerMail, deliverToQueue, mailboxes, mailsTo, startOutgoingEnvironment, waitForMailsTo, type OutgoingEnvironment } from '../outgoing/outgoing-environment.js';
import { call, createUserWithToken, errorOf, startTestApi, type TestApi } from './api-environment.js';

const UK_CUSTOMER = 'oliver@customer.example';
const FR_CUSTOMER = 'camille@client.example';
const QUOTE = Buffer.from('%PDF-1.4\nquote for 40 seats\n', 'utf8');

let env: OutgoingEnvironment;
let api: TestApi;
const tokens: Record<'admin' | 'uk' | 'fr' | 'manager', string> = { admin: '', uk: '', fr: '', manager: '' };
let ukTicket: number;
let frTicket: number;
let leadsView: number;

/** Builds a customer's mail with a PDF attachment, as raw CRLF bytes. */
function mailWithAttachment(from: string, to: string, subject: string, messageId: string): Buffer {
  const lines = [
    `From: ${from}`,
    `To: ${to}`,
    `Subject: ${subject}`,
    'Date: Tue, 01 Dec 2026 10:00:00 +0000',
    `Message-ID: <${messageId}>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Please send the quote again, attached is the old one.',
    '--b1',
    'Content-Type: application/pdf; name="quote.pdf"',
    'Content-Disposition: attachment; filename="quote.pdf"',
    'Content-Transfer-Encoding: base64',
    '',
    QUOTE.toString('base64'),
    '--b1--',
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

async function ticketOf(messageRowId: number): Promise<number> {
  const row: { number: number } = await env.db('messages').join('tickets', 'tickets.id', 'messages.ticket_id').where('messages.id', messageRowId).first('tickets.number');
  return row.number;
}

before(async () => {
  env = await startOutgoingEnvironment({ smtp: { mode: 'starttls', auth: { user: 'mailqueue-sender', password: 'smtp-test-password' } } });
  api = await startTestApi({ db: env.db, temporal: env.client, secretKey: env.secretKey });

  await createCategory(env.db, { name: 'UK Leads' });
  await createCategory(env.db, { name: 'FR Leads' });
  const ukQueue: QueueRecord = await createOutgoingQueue(env, mailboxes[0], { number: 1, title: 'UK sales', category: 'UK Leads' });
  const frQueue: QueueRecord = await createOutgoingQueue(env, mailboxes[1], { number: 2, title: 'FR sales', category: 'FR Leads' });
  await createRoutingRule(env.db, { name: 'Quotes are urgent', queues: [1], conditions: [{ field: 'subject', operator: 'contains', value: 'quote' }], actions: [{ type: 'setPriority', priority: 'urgent' }] });
  await startQueueWorkflow(env.client, ukQueue);
  await startQueueWorkflow(env.client, frQueue);
  const [ukRow] = await deliverToQueue(env, ukQueue, mailboxes[0], [mailWithAttachment(`Oliver <${UK_CUSTOMER}>`, mailboxes[0].user, 'Quote for 40 seats', 'oliver-1@customer.example')]);
  const [frRow] = await deliverToQueue(env, frQueue, mailboxes[1], [customerMail({ from: `Camille <${FR_CUSTOMER}>`, to: mailboxes[1].user, subject: 'Devis', messageId: 'camille-1@client.example' })]);
  ukTicket = await ticketOf(ukRow);
  frTicket = await ticketOf(frRow);

  tokens.admin = (await createUserWithToken(env.db, 'root', 'admin')).token;
  const uk = await createUserWithToken(env.db, 'uk.agent', 'agent');
  const fr = await createUserWithToken(env.db, 'fr.agent', 'agent');
  const manager = await createUserWithToken(env.db, 'manager', 'agent');
  tokens.uk = uk.token;
  tokens.fr = fr.token;
  tokens.manager = manager.token;
  await grantCategory(env.db, uk.user.id, 'UK Leads');
  await grantCategory(env.db, fr.user.id, 'FR Leads');
  await grantCategory(env.db, manager.user.id, 'UK Leads');
  await grantCategory(env.db, manager.user.id, 'FR Leads');

  const view = await call(api.app, tokens.admin, 'POST', '/views', { name: 'Leads', definition: { filters: { categories: ['UK Leads', 'FR Leads'] }, order: [{ field: 'number', direction: 'asc' }] } });
  assert.equal(view.statusCode, 201, view.body);
  leadsView = (view.json() as { id: number }).id;
  assert.equal((await call(api.app, tokens.admin, 'POST', `/views/${leadsView}/share`, { role: 'agent' })).statusCode, 200);
});

after(async () => {
  await api?.stop();
  await env?.stop();
});

describe('the shared "Leads" view', () => {
  for (const [who, expected] of [['uk', () => [ukTicket]], ['fr', () => [frTicket]], ['manager', () => [ukTicket, frTicket].sort((a, b) => a - b)]] as const) {
    test(`shows ${who} exactly the tickets of their categories`, async () => {
      const response = await call(api.app, tokens[who], 'GET', `/tickets?view=${leadsView}`);
      assert.equal(response.statusCode, 200, response.body);
      const body = response.json() as { tickets: Array<{ number: number }>; total: number };
      assert.deepEqual(body.tickets.map((ticket) => ticket.number), expected());
      assert.equal(body.total, expected().length);
    });
  }

  test('pages and sorts the list', async () => {
    const first = (await call(api.app, tokens.manager, 'GET', '/tickets?pageSize=1&page=1&sort=number:desc')).json() as { tickets: Array<{ number: number }>; total: number; page: number };
    const second = (await call(api.app, tokens.manager, 'GET', '/tickets?pageSize=1&page=2&sort=number:desc')).json() as { tickets: Array<{ number: number }>; total: number };
    assert.deepEqual([first.tickets.map((t) => t.number), second.tickets.map((t) => t.number), first.total], [[Math.max(ukTicket, frTicket)], [Math.min(ukTicket, frTicket)], 2]);
    const badSort = await call(api.app, tokens.manager, 'GET', '/tickets?sort=colour:up');
    assert.equal(badSort.statusCode, 400);
    assert.equal(errorOf(badSort).field, 'querystring.sort');
  });
});

describe('a ticket the agent may not see', () => {
  test('answers with the same 404 body as a ticket that does not exist', async () => {
    const forbidden = await call(api.app, tokens.uk, 'GET', `/tickets/${frTicket}`);
    const missing = await call(api.app, tokens.uk, 'GET', '/tickets/999999');
    assert.equal(forbidden.statusCode, 404);
    assert.equal(missing.statusCode, 404);
    assert.equal(forbidden.body, missing.body);
  });

  test('hides its raw message, its attachment and refuses a reply', async () => {
    const detail = (await call(api.app, tokens.uk, 'GET', `/tickets/${ukTicket}`)).json() as { messages: Array<{ rawUrl: string; attachments: Array<{ url: string }> }> };
    const missingBody = (await call(api.app, tokens.fr, 'GET', '/tickets/999999')).body;
    for (const url of [detail.messages[0].rawUrl, detail.messages[0].attachments[0].url]) {
      const response = await call(api.app, tokens.fr, 'GET', url);
      assert.equal(response.statusCode, 404, url);
      assert.equal(errorOf(response).code, 'not_found');
    }
    const reply = await call(api.app, tokens.fr, 'POST', `/tickets/${ukTicket}/replies`, { text: 'Bonjour' });
    assert.equal(reply.statusCode, 404);
    assert.equal(reply.body, missingBody);
    assert.equal(mailsTo(env.smtp, UK_CUSTOMER).length, 0);
  });
});

describe('a ticket the agent may see', () => {
  test('shows its messages, attachments and routing trail', async () => {
    const response = await call(api.app, tokens.uk, 'GET', `/tickets/${ukTicket}`);
    assert.equal(response.statusCode, 200, response.body);
    const detail = response.json() as { ticket: { number: number; category: string; queueNumber: number; priority: string }; messages: Array<{ subject: string; attachments: Array<{ filename: string; size: number }> }>; routing: Array<{ kind: string; data: { rules: Array<{ name: string }> } }> };
    assert.deepEqual([detail.ticket.number, detail.ticket.category, detail.ticket.queueNumber, detail.ticket.priority], [ukTicket, 'UK Leads', 1, 'urgent']);
    assert.equal(detail.messages[0].subject, 'Quote for 40 seats');
    assert.deepEqual(detail.messages[0].attachments.map((a) => [a.filename, a.size]), [['quote.pdf', QUOTE.length]]);
    assert.deepEqual(detail.routing.map((event) => event.data.rules.map((rule) => rule.name)), [['Quotes are urgent']]);
  });

  test('downloads the raw message and the attachment byte for byte', async () => {
    const detail = (await call(api.app, tokens.uk, 'GET', `/tickets/${ukTicket}`)).json() as { messages: Array<{ id: number; rawUrl: string; attachments: Array<{ url: string }> }> };
    const stored: { raw: Buffer } = await env.db('messages').where({ id: detail.messages[0].id }).first('raw');

    const raw = await call(api.app, tokens.uk, 'GET', detail.messages[0].rawUrl);
    assert.equal(raw.statusCode, 200);
    assert.equal(raw.headers['content-type'], 'message/rfc822');
    assert.deepEqual(raw.rawPayload, stored.raw);

    const attachment = await call(api.app, tokens.uk, 'GET', detail.messages[0].attachments[0].url);
    assert.equal(attachment.statusCode, 200);
    assert.equal(attachment.headers['content-type'], 'application/pdf');
    assert.match(String(attachment.headers['content-disposition']), /^attachment; filename="quote\.pdf"/);
    assert.deepEqual(attachment.rawPayload, QUOTE);
  });

  test('takes a reply that reaches the customer once, however often it is sent', async () => {
    const body = { text: 'Here is the new quote.', attachments: [{ filename: 'quote-v2.pdf', contentType: 'application/pdf', contentBase64: QUOTE.toString('base64') }] };
    const first = await api.app.inject({ method: 'POST', url: `/tickets/${ukTicket}/replies`, headers: { authorization: `Bearer ${tokens.uk}`, 'idempotency-key': 'reply-1' }, payload: body });
    assert.equal(first.statusCode, 202, first.body);
    const sent = first.json() as { outboxId: number; recipient: string; created: boolean };
    assert.deepEqual([sent.recipient, sent.created], [UK_CUSTOMER, true]);

    const again = await api.app.inject({ method: 'POST', url: `/tickets/${ukTicket}/replies`, headers: { authorization: `Bearer ${tokens.uk}`, 'idempotency-key': 'reply-1' }, payload: body });
    assert.equal(again.statusCode, 202);
    assert.deepEqual([(again.json() as { outboxId: number }).outboxId, (again.json() as { created: boolean }).created], [sent.outboxId, false]);

    const [mail] = await waitForMailsTo(env.smtp, UK_CUSTOMER, 1);
    const parsed = await simpleParser(mail.raw);
    assert.match(parsed.text ?? '', /Here is the new quote\./);
    assert.deepEqual(parsed.attachments.map((a) => [a.filename, a.content.equals(QUOTE)]), [['quote-v2.pdf', true]]);
    const row: { state: string } = await env.db('outbox').where({ id: sent.outboxId }).first('state');
    assert.equal(row.state, 'sent');

    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(mailsTo(env.smtp, UK_CUSTOMER).length, 1, 'the repeated request sent no second mail');
  });
});

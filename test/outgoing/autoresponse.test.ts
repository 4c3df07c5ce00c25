import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { importMessages } from '../../src/activities/import.js';
import { startQueueWorkflow, signalMailArrived } from '../../src/client/queue-control.js';
import type { QueueRecord } from '../../src/db/queues.js';
import { createTemplate } from '../../src/db/templates.js';
import { testLogger, waitFor } from '../support/environment.js';
import {
  createOutgoingQueue,
  customerMail,
  deliverToQueue,
  mailboxes,
  mailsTo,
  rawHeader,
  rawHeaderLines,
  SMTP_LOGIN,
  startOutgoingEnvironment,
  waitForMailsTo,
  waitForOutboxState,
  type OutboxRow,
  type OutgoingEnvironment,
} from './outgoing-environment.js';

const supportBox = mailboxes[0];
const czechBox = mailboxes[1];
const REPLY_TO = 'help@helpdesk.example.com';
const CZECH_TITLE = 'Podpora Žluťoučký kůň';

let env: OutgoingEnvironment;
let support: QueueRecord;
let czech: QueueRecord;

function firstAddress(field: AddressObject | AddressObject[] | undefined): { name: string; address: string } {
  let list: AddressObject[] = [];
  if (Array.isArray(field)) list = field;
  else if (field) list = [field];
  const entry = list[0]?.value[0];
  return { name: entry?.name ?? '', address: entry?.address ?? '' };
}

async function ticketIdOf(rowId: number): Promise<number> {
  const row: { ticket_id: number | null } = await env.db('messages').where({ id: rowId }).first('ticket_id');
  assert.notEqual(row.ticket_id, null, `message row ${rowId} joined no ticket`);
  return row.ticket_id as number;
}

async function outboxForMessage(rowId: number): Promise<OutboxRow[]> {
  return env.db('outbox').where({ in_reply_to_message_row_id: rowId }).select('*');
}

/** Delivers one customer mail, waits for its auto-response to be sent and returns it parsed, with the raw bytes. */
async function autoresponseFor(queue: QueueRecord, mailbox: typeof supportBox, raw: Buffer, recipient: string): Promise<{ parsed: ParsedMail; raw: Buffer; rowId: number; outbox: OutboxRow }> {
  const [rowId] = await deliverToQueue(env, queue, mailbox, [raw]);
  const [outbox] = await outboxForMessage(rowId);
  assert.ok(outbox, `no auto-response was queued for message row ${rowId}`);
  await waitForOutboxState(env.db, outbox.id, ['sent', 'failed']);
  const [mail] = await waitForMailsTo(env.smtp, recipient, 1);
  return { parsed: await simpleParser(mail.raw), raw: mail.raw, rowId, outbox: await env.db('outbox').where({ id: outbox.id }).first() };
}

before(async () => {
  env = await startOutgoingEnvironment({ smtp: { mode: 'starttls', auth: SMTP_LOGIN } });
  await createTemplate(env.db, { name: 'team-sender', kind: 'sender-info', text: '{{queue.title}} Team' });
  await createTemplate(env.db, {
    name: 'ack',
    kind: 'autoresponse',
    subject: 'We received your message, {{customer.name}}',
    text: 'Hello {{customer.name}},\n\nyour request is ticket {{ticket.number}} in {{queue.title}}.\n',
  });
  await createTemplate(env.db, { name: 'ack-cs', kind: 'autoresponse', subject: 'Přijali jsme: {{ticket.title}}', text: 'Dobrý den, tiket {{ticket.number}}.\n' });

  support = await createOutgoingQueue(env, supportBox, {
    number: 1,
    title: 'Support',
    senderInfoTemplate: 'team-sender',
    autoresponseTemplate: 'ack',
    replyTo: REPLY_TO,
    autoresponseExceptions: ['*@partner.example'],
    autoresponseRateLimit: { max: 2, windowSeconds: 3600 },
  });
  czech = await createOutgoingQueue(env, czechBox, { number: 2, title: CZECH_TITLE, senderInfoTemplate: 'team-sender', autoresponseTemplate: 'ack-cs', replyTo: '' });
  await startQueueWorkflow(env.client, support);
  await startQueueWorkflow(env.client, czech);
});

after(async () => {
  await env?.stop();
});

describe('auto-response headers as received', () => {
  let received: { parsed: ParsedMail; raw: Buffer; rowId: number; outbox: OutboxRow };
  const customerId = 'first-question@customer.example';

  before(async () => {
    received = await autoresponseFor(
      support,
      supportBox,
      customerMail({ from: 'Alice Customer <alice@customer.example>', replyTo: 'Alice Work <alice.work@customer.example>', to: supportBox.user, subject: 'Printer broken', messageId: customerId, references: ['older@customer.example'] }),
      'alice.work@customer.example',
    );
  });

  test('delivered over STARTTLS with AUTH', () => {
    const mail = mailsTo(env.smtp, 'alice.work@customer.example')[0];
    assert.equal(mail.secure, true);
    assert.equal(mail.authenticatedUser, SMTP_LOGIN.user);
  });

  test('envelope goes to Reply-To', () => {
    assert.deepEqual(mailsTo(env.smtp, 'alice.work@customer.example')[0].envelope.to, ['alice.work@customer.example']);
    assert.equal(mailsTo(env.smtp, 'alice@customer.example').length, 0);
  });

  test('From rendered from sender info', () => {
    assert.deepEqual(firstAddress(received.parsed.from), { name: 'Support Team', address: supportBox.user });
  });

  test('Reply-To header when configured', () => {
    assert.equal(firstAddress(received.parsed.replyTo).address, REPLY_TO);
  });

  test('automation headers are set', () => {
    assert.equal(rawHeader(received.raw, 'Auto-Submitted'), 'auto-replied');
    assert.equal(rawHeader(received.raw, 'X-Auto-Response-Suppress'), 'All');
  });

  test('In-Reply-To is customer Message-ID', () => {
    assert.equal(received.parsed.inReplyTo, `<${customerId}>`);
  });

  test('References end with customer Message-ID', () => {
    const references = Array.isArray(received.parsed.references) ? received.parsed.references : [received.parsed.references ?? ''];
    assert.deepEqual(references, ['<older@customer.example>', `<${customerId}>`]);
  });

  test('subject carries the ticket tag', async () => {
    const ticket: { number: number } = await env.db('tickets').where({ id: await ticketIdOf(received.rowId) }).first('number');
    assert.equal(received.parsed.subject, `[Ticket#${ticket.number}] We received your message, Alice Work`);
  });

  test('Message-ID matches the outbox row', () => {
    assert.equal(received.parsed.messageId, `<${received.outbox.message_id}>`);
  });

  test('sent mail stored as outgoing', async () => {
    const stored: { direction: string; ticket_id: number; source_key: string } | undefined = await env.db('messages').where({ message_id: received.outbox.message_id }).first('direction', 'ticket_id', 'source_key');
    assert.equal(stored?.direction, 'outgoing');
    assert.equal(stored?.ticket_id, await ticketIdOf(received.rowId));
    assert.equal(stored?.source_key, `outbox:${received.outbox.id}`);
  });

  test('customer reply threads without new auto-response', async () => {
    const ticketId = await ticketIdOf(received.rowId);
    const [replyRow] = await deliverToQueue(env, support, supportBox, [
      customerMail({ from: 'alice@customer.example', to: supportBox.user, subject: 'Re: something else entirely', messageId: 'alice-followup@customer.example', inReplyTo: received.outbox.message_id }),
    ]);
    assert.equal(await ticketIdOf(replyRow), ticketId);
    const autoresponses = await env.db('outbox').where({ ticket_id: ticketId, kind: 'autoresponse' }).count<{ count: string }>('id as count').first();
    assert.equal(Number(autoresponses?.count), 1);
  });
});

describe('auto-response recipient and encoding', () => {
  test('sent to From without Reply-To', async () => {
    const { parsed } = await autoresponseFor(support, supportBox, customerMail({ from: 'Bob <bob@customer.example>', to: supportBox.user, subject: 'Invoice', messageId: 'bob-1@customer.example' }), 'bob@customer.example');
    assert.equal(firstAddress(parsed.to).address, 'bob@customer.example');
  });

  describe('queue without Reply-To', () => {
    let received: { parsed: ParsedMail; raw: Buffer; rowId: number; outbox: OutboxRow };

    before(async () => {
      received = await autoresponseFor(czech, czechBox, customerMail({ from: 'Cyril <cyril@customer.example>', to: czechBox.user, subject: 'Účet nefunguje', messageId: 'cyril-1@customer.example' }), 'cyril@customer.example');
    });

    test('Reply-To header is absent', () => {
      assert.equal(rawHeader(received.raw, 'Reply-To'), undefined);
    });

    test('non-ASCII display name encoded', () => {
      assert.match(rawHeader(received.raw, 'From') ?? '', /^=\?UTF-8\?[BQ]\?/i);
    });

    test('non-ASCII display name decodes exactly', () => {
      assert.equal(firstAddress(received.parsed.from).name, `${CZECH_TITLE} Team`);
    });

    test('non-ASCII subject encoded', () => {
      assert.match(rawHeader(received.raw, 'Subject') ?? '', /=\?UTF-8\?[BQ]\?/i);
    });

    test('raw header is ASCII only', () => {
      assert.doesNotMatch(rawHeaderLines(received.raw).join('\n'), /[^\x00-\x7f]/);
    });

    test('non-ASCII subject decodes exactly', async () => {
      const ticket: { number: number } = await env.db('tickets').where({ id: await ticketIdOf(received.rowId) }).first('number');
      assert.equal(received.parsed.subject, `[Ticket#${ticket.number}] Přijali jsme: Účet nefunguje`);
    });
  });

  describe('header injection through a name', () => {
    let received: { parsed: ParsedMail; raw: Buffer };
    const hostileName = 'Eve\r\nBcc: evil@example.com';

    before(async () => {
      const encoded = `=?UTF-8?B?${Buffer.from(hostileName, 'utf8').toString('base64')}?=`;
      received = await autoresponseFor(support, supportBox, customerMail({ from: `${encoded} <eve@customer.example>`, to: supportBox.user, subject: 'Hello', messageId: 'eve-1@customer.example' }), 'eve@customer.example');
    });

    test('no Bcc header is added', () => {
      assert.equal(received.parsed.bcc, undefined);
    });

    test('no raw header line starts with Bcc', () => {
      assert.equal(received.raw.toString('latin1').split('\r\n\r\n')[0].split('\r\n').filter((line) => /^bcc:/i.test(line)).length, 0);
    });

    test('envelope has only the customer', () => {
      assert.deepEqual(mailsTo(env.smtp, 'eve@customer.example')[0].envelope.to, ['eve@customer.example']);
    });

    test('name stays inside the subject', () => {
      assert.match(received.parsed.subject ?? '', /Eve\s+Bcc: evil@example\.com$/);
    });
  });
});

describe('auto-response skipped', () => {
  // `reason` null: the mail is held as a delivery report for unknown mail, so it has no ticket to carry an event.
  const skipped: Array<{ label: string; from: string; mail: Buffer; reason: RegExp | null }> = [
    { label: 'auto-submitted auto-replied', from: 'ooo@customer.example', mail: customerMail({ from: 'ooo@customer.example', to: supportBox.user, subject: 'Out of office', messageId: 'skip-1@customer.example', headers: ['Auto-Submitted: auto-replied'] }), reason: /^automatic-mail:/ },
    { label: 'precedence bulk', from: 'news@customer.example', mail: customerMail({ from: 'news@customer.example', to: supportBox.user, subject: 'Newsletter', messageId: 'skip-2@customer.example', headers: ['Precedence: bulk'] }), reason: /^(automatic-mail|mailing-list):/ },
    { label: 'list-id mail', from: 'list-member@customer.example', mail: customerMail({ from: 'list-member@customer.example', to: supportBox.user, subject: 'List post', messageId: 'skip-3@customer.example', headers: ['List-Id: <users.lists.example>'] }), reason: /^mailing-list:/ },
    { label: 'empty return-path bounce', from: 'returned@customer.example', mail: customerMail({ returnPath: '<>', from: 'returned@customer.example', to: supportBox.user, subject: 'Undelivered', messageId: 'skip-4@customer.example' }), reason: /^(automatic-mail|bounce)/ },
    { label: 'mailer-daemon sender', from: 'mailer-daemon@customer.example', mail: customerMail({ from: 'MAILER-DAEMON@customer.example', to: supportBox.user, subject: 'Notice', messageId: 'skip-5@customer.example' }), reason: null },
    { label: 'our own address', from: czechBox.user, mail: customerMail({ from: czechBox.user, to: supportBox.user, subject: 'Internal note', messageId: 'skip-6@customer.example' }), reason: /^own-address:/ },
    { label: 'exception pattern on reply-to', from: 'frank@customer.example', mail: customerMail({ from: 'frank@customer.example', replyTo: 'desk@partner.example', to: supportBox.user, subject: 'Partner question', messageId: 'skip-7@customer.example' }), reason: /^exception-pattern:/ },
  ];
  let rowIds: number[] = [];

  before(async () => {
    rowIds = await deliverToQueue(env, support, supportBox, skipped.map((entry) => entry.mail));
    // Any delivery the queue started for these would have had time to arrive by now.
    await new Promise((resolve) => setTimeout(resolve, 1500));
  });

  for (const [index, entry] of skipped.entries()) {
    test(`${entry.label}: no outbox row`, async () => {
      assert.equal((await outboxForMessage(rowIds[index])).length, 0);
    });

    test(`${entry.label}: nothing received`, () => {
      assert.equal(mailsTo(env.smtp, entry.from).length, 0);
    });

    if (entry.reason === null) {
      test(`${entry.label}: held without ticket`, async () => {
        const row: { state: string; ticket_id: number | null } = await env.db('messages').where({ id: rowIds[index] }).first('state', 'ticket_id');
        assert.deepEqual(row, { state: 'held', ticket_id: null });
      });
      continue;
    }
    const reason = entry.reason;
    test(`${entry.label}: skip event with reason`, async () => {
      const events: Array<{ kind: string; data: { reason?: string } }> = await env.db('ticket_events').where({ message_row_id: rowIds[index] }).select('kind', 'data');
      const skip = events.find((event) => event.kind === 'autoresponse-skipped');
      assert.match(skip?.data.reason ?? '(no autoresponse-skipped event)', reason);
    });
  }
});

describe('auto-response rate limit', () => {
  test('five mails get two responses', async () => {
    const raws = [1, 2, 3, 4, 5].map((n) => customerMail({ from: 'gina@customer.example', to: supportBox.user, subject: `Question number ${n}`, messageId: `gina-${n}@customer.example` }));
    const rowIds = await deliverToQueue(env, support, supportBox, raws);
    const queued: OutboxRow[] = await env.db('outbox').whereIn('in_reply_to_message_row_id', rowIds).select('*');
    for (const row of queued) await waitForOutboxState(env.db, row.id, ['sent']);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(mailsTo(env.smtp, 'gina@customer.example').length, 2);
  });

  test('the others are skipped as rate-limited', async () => {
    const events: Array<{ data: { reason?: string } }> = await env.db('ticket_events')
      .join('messages', 'messages.id', 'ticket_events.message_row_id')
      .where('ticket_events.kind', 'autoresponse-skipped')
      .whereRaw(`messages."from"->0->>'address' = ?`, ['gina@customer.example'])
      .select('ticket_events.data');
    assert.deepEqual(events.map((event) => event.data.reason), ['rate-limited:2-per-3600s', 'rate-limited:2-per-3600s', 'rate-limited:2-per-3600s']);
  });
});

describe('import sends nothing', () => {
  test('imported mail gets no response', async () => {
    const raw = customerMail({ from: 'harry@customer.example', to: supportBox.user, subject: 'Archived question', messageId: 'harry-archived@customer.example' });
    const result = await importMessages(env.db, support, [raw], {}, testLogger);
    assert.equal(result.threaded?.newTickets, 1);

    // Let the workflow's respond step see the imported message.
    await signalMailArrived(env.client, support.number);
    const decided = await waitFor('the imported message to be decided', async () => {
      const row: { id: number; autoresponse_decided_at: Date | null } | undefined = await env.db('messages').where({ message_id: 'harry-archived@customer.example' }).first('id', 'autoresponse_decided_at');
      return row?.autoresponse_decided_at ? row : undefined;
    });
    assert.equal((await outboxForMessage(decided.id)).length, 0);
    const event: { data: { reason: string } } | undefined = await env.db('ticket_events').where({ message_row_id: decided.id, kind: 'autoresponse-skipped' }).first('data');
    assert.equal(event?.data.reason, 'imported');
    assert.equal(mailsTo(env.smtp, 'harry@customer.example').length, 0);
  });
});

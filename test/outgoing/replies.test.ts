import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { composeAgentReply } from '../../src/activities/reply.js';
import { startOutboxDelivery, startQueueWorkflow } from '../../src/client/queue-control.js';
import type { QueueRecord } from '../../src/db/queues.js';
import { createTemplate } from '../../src/db/templates.js';
import { createUser } from '../../src/db/users.js';
import { repoRoot } from '../../src/dev/tools.js';
import { testLogger } from '../support/environment.js';
import { createOutgoingQueue, customerMail, deliverToQueue, mailboxes, mailsTo, SMTP_LOGIN, startOutgoingEnvironment, waitForMailsTo, waitForOutboxState, type OutgoingEnvironment } from './outgoing-environment.js';

const run = promisify(execFile);
const mailbox = mailboxes[0];
const REPLY_TO = 'help@helpdesk.example.com';
const CUSTOMER = 'karel@customer.example';
const ATTACHMENT = Buffer.from('%PDF-1.4\nnot really a pdf, but bytes to compare\n', 'utf8');

let env: OutgoingEnvironment;
let queue: QueueRecord;
let ticketNumber: number;
/** Message-IDs of the customer's References on the second mail, oldest first. */
const customerReferences = Array.from({ length: 30 }, (_, index) => `thread-${index + 1}@customer.example`);
const lastCustomerId = 'karel-2@customer.example';

function firstAddress(field: AddressObject | AddressObject[] | undefined): { name: string; address: string } {
  let list: AddressObject[] = [];
  if (Array.isArray(field)) list = field;
  else if (field) list = [field];
  const entry = list[0]?.value[0];
  return { name: entry?.name ?? '', address: entry?.address ?? '' };
}

function referencesOf(mail: ParsedMail): string[] {
  if (Array.isArray(mail.references)) return mail.references;
  return mail.references ? [mail.references] : [];
}

before(async () => {
  env = await startOutgoingEnvironment({ smtp: { mode: 'starttls', auth: SMTP_LOGIN } });
  await createTemplate(env.db, { name: 'agent-sender', kind: 'sender-info', text: '{{user.alias}} via {{queue.title}}' });
  await createTemplate(env.db, { name: 'signature', kind: 'signature', text: '-- \n{{user.name}}, {{queue.title}} desk' });
  await createTemplate(env.db, { name: 'survey', kind: 'nps-survey', text: 'How did {{user.name}} do on ticket {{ticket.number}}? Answer 0-10.' });
  await createUser(env.db, { alias: 'jana', email: 'jana@helpdesk.example.com', name: 'Jana Nováková' });
  queue = await createOutgoingQueue(env, mailbox, { number: 1, title: 'Support', senderInfoTemplate: 'agent-sender', signatureTemplate: 'signature', npsSurveyTemplate: 'survey', replyTo: REPLY_TO });
  await startQueueWorkflow(env.client, queue);

  const [firstRow] = await deliverToQueue(env, queue, mailbox, [customerMail({ from: `Karel <${CUSTOMER}>`, to: mailbox.user, subject: 'Fwd: RE: Printer broken', messageId: 'karel-1@customer.example' })]);
  const ticket: { number: number } = await env.db('messages').join('tickets', 'tickets.id', 'messages.ticket_id').where('messages.id', firstRow).first('tickets.number');
  ticketNumber = ticket.number;
  await deliverToQueue(env, queue, mailbox, [
    customerMail({ from: `Karel <${CUSTOMER}>`, to: mailbox.user, subject: `Re: Re: [Ticket#${ticketNumber}] Printer broken`, messageId: lastCustomerId, inReplyTo: customerReferences[29], references: customerReferences }),
  ]);
});

after(async () => {
  await env?.stop();
});

describe('agent reply as received', () => {
  let parsed: ParsedMail;
  let outbox: { outboxId: number; messageId: string };

  before(async () => {
    outbox = await composeAgentReply(
      env.db,
      { ticketNumber, userAlias: 'jana', text: 'The driver update fixes it.', html: null, attachments: [{ filename: 'report.pdf', contentType: 'application/pdf', content: ATTACHMENT }] },
      testLogger,
    );
    await startOutboxDelivery(env.client, outbox.outboxId);
    await waitForOutboxState(env.db, outbox.outboxId, ['sent', 'failed']);
    const [mail] = await waitForMailsTo(env.smtp, CUSTOMER, 1);
    parsed = await simpleParser(mail.raw);
  });

  test('From rendered for the agent', () => {
    assert.deepEqual(firstAddress(parsed.from), { name: 'jana via Support', address: mailbox.user });
  });

  test('Reply-To is the queue setting', () => {
    assert.equal(firstAddress(parsed.replyTo).address, REPLY_TO);
  });

  test('body has the signature', () => {
    assert.match(parsed.text ?? '', /^The driver update fixes it\.\n\n-- \nJana Nováková, Support desk/);
  });

  test('body has the survey', () => {
    assert.match(parsed.text ?? '', new RegExp(`How did Jana Nováková do on ticket ${ticketNumber}\\? Answer 0-10\\.`));
  });

  test('In-Reply-To is last customer message', () => {
    assert.equal(parsed.inReplyTo, `<${lastCustomerId}>`);
  });

  test('References trimmed to twenty ids', () => {
    const expected = [customerReferences[0], ...customerReferences.slice(-18), lastCustomerId].map((id) => `<${id}>`);
    assert.deepEqual(referencesOf(parsed), expected);
  });

  test('subject without accumulated prefixes', () => {
    assert.equal(parsed.subject, `Re: [Ticket#${ticketNumber}] Printer broken`);
  });

  test('attachment arrives intact', () => {
    const attachment = parsed.attachments.find((entry) => entry.filename === 'report.pdf');
    assert.equal(attachment?.content.equals(ATTACHMENT), true);
  });

  test('Message-ID matches the outbox row', () => {
    assert.equal(parsed.messageId, `<${outbox.messageId}>`);
  });
});

describe('tickets reply command', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mq-reply-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('CLI reply reaches the customer', async () => {
    const before = mailsTo(env.smtp, CUSTOMER).length;
    await writeFile(join(dir, 'body.txt'), 'Sent from the command line.\n');
    await writeFile(join(dir, 'notes.txt'), 'attached notes\n');
    await run(process.execPath, [join(repoRoot, 'dist/src/client/main.js'), 'tickets', 'reply', String(ticketNumber), '--as', 'jana', '--body-file', join(dir, 'body.txt'), '--attach', join(dir, 'notes.txt')], {
      env: { ...process.env, DATABASE_URL: env.databaseUrl, TEMPORAL_ADDRESS: env.temporalAddress, MAILQUEUE_SECRET_KEY: env.secretKeyText },
      timeout: 60_000,
    });

    const mails = await waitForMailsTo(env.smtp, CUSTOMER, before + 1);
    const parsed = await simpleParser(mails[mails.length - 1].raw);
    assert.match(parsed.text ?? '', /^Sent from the command line\./);
    assert.deepEqual(parsed.attachments.map((entry) => entry.content.toString('utf8')), ['attached notes\n']);
  });
});

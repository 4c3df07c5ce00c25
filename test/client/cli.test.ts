import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { createTemplate } from '../../src/db/templates.js';
import { generateSecretKey, parseSecretKey } from '../../src/secrets.js';
import { appendMessages } from '../support/imap-admin.js';
import { startCaptureSmtpServer, type CaptureSmtpServer } from '../support/smtp-capture.js';
import {
  startTestDatabase,
  startTestDovecot,
  startTestTemporal,
  startTestWorker,
  waitFor,
  type RunningWorker,
  type TestDatabase,
  type TestMailServer,
  type TestTemporal,
} from '../support/environment.js';
import { adminSettings, countRows, customerMessage, type TestMailbox } from '../workflows/fixtures.js';
import { mailqueueEnvironment, runCli, type CliResult } from './cli-process.js';

const cliBox: TestMailbox = { user: 'cli@desk.example.com', password: 'cli-Pw-3f9c-secret' };
const AUTORESPONSE_TEMPLATE = 'cli-autoresponse';

/** The fields `queue list --json` promises for every queue (docs/queue-config.md). */
const stableQueueFields = ['number', 'title', 'description', 'active', 'category', 'pollIntervalSeconds', 'maxMessageBytes', 'incoming', 'workflowId', 'createdAt', 'deletedAt'];
const stableIncomingFields = ['protocol', 'host', 'port', 'user', 'ssl', 'sslTrusted', 'dontKeepEmails', 'folder'];

interface QueueJson {
  number: number;
  active: boolean;
  deletedAt: string | null;
  workflowId: string;
  incoming: Record<string, unknown>;
}

interface StatusJson {
  running: boolean;
  status: { active: boolean; counters: { stored: number } } | null;
}

function parseJson<T>(result: CliResult): T {
  assert.equal(result.code, 0, `command failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

describe('mailqueue CLI', () => {
  let database: TestDatabase;
  let temporal: TestTemporal;
  let mail: TestMailServer;
  let smtp: CaptureSmtpServer;
  let worker: RunningWorker;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const secretKeyText = generateSecretKey();

  const cli = (...args: string[]): Promise<CliResult> => runCli(args, env);
  const queueFile = async (name: string, content: unknown): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, JSON.stringify(content, null, 2));
    return path;
  };
  const validQueue = (number: number): Record<string, unknown> => ({
    number,
    title: `CLI queue ${number}`,
    pollIntervalSeconds: 3600,
    incoming: { host: mail.dovecot.host, port: mail.dovecot.imapPort, user: cliBox.user, password: cliBox.password, ssl: false, sslTrusted: false },
    outgoing: { host: '127.0.0.1', port: smtp.port, security: 'none' },
    senderAddress: cliBox.user,
    autoresponseTemplate: AUTORESPONSE_TEMPLATE,
  });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mq-cli-'));
    database = await startTestDatabase();
    temporal = await startTestTemporal();
    mail = await startTestDovecot([cliBox]);
    smtp = await startCaptureSmtpServer({ mode: 'plain' });
    worker = await startTestWorker({ temporalAddress: temporal.address, db: database.db, secretKey: parseSecretKey(secretKeyText) });
    env = mailqueueEnvironment({ DATABASE_URL: database.url, TEMPORAL_ADDRESS: temporal.address, MAILQUEUE_SECRET_KEY: secretKeyText, LOG_LEVEL: 'error' });
    await createTemplate(database.db, { name: AUTORESPONSE_TEMPLATE, kind: 'autoresponse', subject: 'Received: {{ticket.title}}', text: 'Your request is ticket {{ticket.number}}.\n' });
  });

  after(async () => {
    await worker?.stop();
    await smtp?.close();
    await mail?.stop();
    await temporal?.stop();
    await database?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  describe('queue files', () => {
    test('invalid file lists each field', async () => {
      const path = await queueFile('invalid.json', { incoming: { host: '127.0.0.1', port: 70_000, user: 'x', password: 'y' }, colour: 'blue' });
      const result = await cli('queue', 'create', '--file', path);
      const lines = result.stderr.split('\n');
      assert.equal(result.code, 1);
      assert.ok(lines.some((line) => line.includes('title')), `no line names title:\n${result.stderr}`);
      assert.ok(lines.some((line) => line.includes('incoming.port')), `no line names incoming.port:\n${result.stderr}`);
      assert.ok(lines.some((line) => line.includes('colour')), `no line names the unknown field:\n${result.stderr}`);
      assert.equal(await countRows(database.db, 'queues', {}), 0);
    });

    test('valid file creates queue', async () => {
      const result = await cli('queue', 'create', '--file', await queueFile('valid.json', validQueue(31)));
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Created queue 31\b/);
      assert.equal(await countRows(database.db, 'queues', { number: 31 }), 1);
    });

    test('suggest-number prints next number', async () => {
      const result = await cli('queue', 'suggest-number');
      assert.equal(result.stdout.trim(), '32');
    });

    test('deleted number never suggested', async () => {
      assert.equal((await cli('queue', 'create', '--file', await queueFile('doomed.json', { ...validQueue(32), title: 'Doomed' }))).code, 0);
      const deleted = await cli('queue', 'delete', '32');
      const suggested = await cli('queue', 'suggest-number');
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.equal(suggested.stdout.trim(), '33');
    });

    test('list json has stable fields', async () => {
      const result = await cli('queue', 'list', '--all', '--json');
      const queues = parseJson<QueueJson[]>(result);
      assert.deepEqual(queues.map((queue) => queue.number), [31, 32]);
      for (const queue of queues) {
        assert.deepEqual(stableQueueFields.filter((field) => !(field in queue)), [], `queue ${queue.number} lacks fields`);
        assert.deepEqual(stableIncomingFields.filter((field) => !(field in queue.incoming)), [], `queue ${queue.number} lacks incoming fields`);
      }
      assert.equal(queues[0].workflowId, 'email-queue-31');
      assert.equal(queues[0].deletedAt, null);
      assert.notEqual(queues[1].deletedAt, null);
      assert.equal(result.stdout.includes(cliBox.password), false, 'the password is in the output');
    });
  });

  describe('running a queue', () => {
    const status = async (): Promise<StatusJson> => parseJson<StatusJson>(await cli('queue', 'status', '31', '--json'));

    test('second start says already running', async () => {
      const first = await cli('queue', 'start', '31');
      const second = await cli('queue', 'start', '31');
      assert.match(first.stdout, /Queue 31: started/);
      assert.match(second.stdout, /Queue 31: already running/);
    });

    test('pause shows in status', async () => {
      const paused = await cli('queue', 'pause', '31');
      assert.match(paused.stdout, /Queue 31 paused/);
      const reached = await waitFor('status active false', async () => {
        const value = await status().catch(() => undefined);
        return value?.status?.active === false ? value : undefined;
      });
      assert.equal(reached.running, true);
    });

    test('resume shows in status', async () => {
      const resumed = await cli('queue', 'resume', '31');
      assert.match(resumed.stdout, /Queue 31 resumed/);
      const reached = await waitFor('status active true', async () => {
        const value = await status().catch(() => undefined);
        return value?.status?.active === true ? value : undefined;
      });
      assert.equal(reached.status?.active, true);
    });

    test('fetched mail shows as ticket', async () => {
      await appendMessages(adminSettings(mail.dovecot.host, mail.dovecot.imapPort, cliBox), 'INBOX', [customerMessage('cli', 1, cliBox.user)]);
      assert.equal((await cli('queue', 'fetch', '31')).code, 0);
      const tickets = await waitFor('one ticket listed', async () => {
        const listed = parseJson<Array<{ number: number; queue: number; title: string }>>(await cli('tickets', 'list', '--json'));
        return listed.length === 1 ? listed : undefined;
      });
      const shown = parseJson<{ ticket: { number: number }; messages: Array<{ subject: string; direction: string }> }>(await cli('tickets', 'show', String(tickets[0].number), '--json'));
      assert.equal(tickets[0].queue, 31);
      assert.equal(shown.ticket.number, tickets[0].number);
      // The auto-response is recorded on the ticket too; only the customer's mail is checked here.
      assert.deepEqual(shown.messages.filter((message) => message.direction === 'incoming').map((message) => message.subject), ['cli question 1']);
    });

    test('fetched mail gets an autoresponse', async () => {
      // The contrast for the import test below: this queue does send mail for fetched messages.
      const rows = await waitFor('an autoresponse row', async () => {
        const count = await countRows(database.db, 'outbox', { kind: 'autoresponse' });
        return count > 0 ? count : undefined;
      });
      assert.equal(rows, 1);
    });
  });

  describe('import', () => {
    let importFile: string;
    let ticketNumber: number;

    before(async () => {
      importFile = join(dir, 'archived.eml');
      await writeFile(importFile, customerMessage('archive', 1, cliBox.user));
    });

    test('import stores without sending', async () => {
      const outboxBefore = await countRows(database.db, 'outbox', {});
      const result = parseJson<{ files: Array<{ status: string; messageRowId: number }> }>(await cli('import', importFile, '--queue', '31', '--json'));
      const row: { ticket_id: number | null; imported: boolean } = await database.db('messages').where({ id: result.files[0].messageRowId }).first('ticket_id', 'imported');
      assert.equal(result.files[0].status, 'stored');
      assert.equal(row.imported, true);
      assert.notEqual(row.ticket_id, null);
      assert.equal(await countRows(database.db, 'outbox', {}), outboxBefore);
      const ticket: { number: number } = await database.db('tickets').where({ id: row.ticket_id }).first('number');
      ticketNumber = ticket.number;
    });

    test('second import stores nothing', async () => {
      const result = parseJson<{ files: Array<{ status: string }> }>(await cli('import', importFile, '--queue', '31', '--json'));
      assert.equal(result.files[0].status, 'already-stored');
      assert.equal(await countRows(database.db, 'messages', { message_id: 'archive-1@example.org' }), 1);
    });

    test('outgoing import joins the ticket', async () => {
      assert.ok(ticketNumber !== undefined, 'the import test created no ticket');
      const reply = join(dir, 'sent-reply.eml');
      await writeFile(
        reply,
        ['From: CLI queue <cli@desk.example.com>', 'To: customer1@example.org', 'Subject: Re: archive question 1', 'Message-ID: <sent-reply-1@desk.example.com>', 'In-Reply-To: <archive-1@example.org>', 'Date: Mon, 02 Mar 2026 11:00:00 +0000', '', 'We are on it.', ''].join('\r\n'),
      );
      const result = parseJson<{ files: Array<{ status: string; messageRowId: number }> }>(await cli('import', reply, '--queue', '31', '--outgoing', '--ticket', String(ticketNumber), '--json'));
      const row: { direction: string; ticket_id: number } = await database.db('messages').where({ id: result.files[0].messageRowId }).first('direction', 'ticket_id');
      const ticket: { number: number } = await database.db('tickets').where({ id: row.ticket_id }).first('number');
      assert.equal(result.files[0].status, 'stored');
      assert.equal(row.direction, 'outgoing');
      assert.equal(ticket.number, ticketNumber);
    });
  });

  test('worker refuses without secret key', async () => {
    const withoutKey = mailqueueEnvironment({ DATABASE_URL: database.url, TEMPORAL_ADDRESS: temporal.address, LOG_LEVEL: 'fatal' });
    const result = await runCli(['worker'], withoutKey);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /MAILQUEUE_SECRET_KEY is not set/);
  });
});

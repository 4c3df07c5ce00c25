import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { importMessages } from '../../src/activities/import.js';
import { createQueue, type QueueRecord } from '../../src/db/queues.js';
import { writeInstallationSetting } from '../../src/db/settings.js';
import { createTemplate } from '../../src/db/templates.js';
import { ticketTitleFromSubject } from '../../src/domain/subject.js';
import type { ImapConnectionSettings } from '../../src/mail/incoming.js';
import type { ParsedAddress } from '../../src/mail/parsed-message.js';
import { queryQueueStatus, signalMailArrived, startQueueWorkflow } from '../../src/client/queue-control.js';
import { appendMessages, listUids, recreateFolder } from '../support/imap-admin.js';
import { testLogger } from '../support/environment.js';
import { billingMailbox, supportMailbox, type CaseEnvironment } from './case-environment.js';
import { descriptiveKeys, type CaseAttachmentExpectation, type CaseExpectation } from './case-format.js';
import { checkFieldPerInput, checkMatchedRules, checkTicketFields, readRoutedInputs, saveCaseRoutingRules, type RoutedInput } from './case-routing.js';

export interface CaseOutcome {
  name: string;
  failures: string[];
  /** Expectation keys this runner does not check yet. */
  unchecked: string[];
}

export interface CaseDefinition {
  name: string;
  dir: string;
  /** Position in the run; makes queue numbers (and so workflow ids) unique per case. */
  index: number;
  expected: CaseExpectation;
}

const TAG_TEMPLATE = '[Ticket#{number}]';

/** `config` entries this runner applies to the case's queues; any other entry is reported as not checked. */
const supportedConfigKeys = new Set(['autoresponse_exceptions', 'after_processing', 'max_message_bytes', 'routing_rules']);

/** Returns the folder named by a `move to 'Folder'` after-processing setting, or null. */
function processedFolderOf(expected: CaseExpectation): string | null {
  const match = /move to '([^']+)'/i.exec(expected.config?.after_processing ?? '');
  return match ? match[1] : null;
}
const FIRST_TICKET_NUMBER = 100001;
const INPUT_TIMEOUT_MS = 60_000;
const AUTORESPONSE_TEMPLATE = 'case-autoresponse';

interface MessageRow {
  id: number;
  ticket_id: number | null;
  state: string;
  subject: string;
  from: ParsedAddress[];
  text: string;
  html: string | null;
  auto_submitted: boolean;
  bounce: boolean;
  created_at: Date;
}

interface AttachmentRow {
  message_row_id: number;
  filename: string;
  content_type: string;
  size: number;
  content_id: string | null;
  inline: boolean;
  sha256: string;
}

interface TicketRow {
  id: number;
  number: number;
  requester_address: string | null;
  requester_flag: string | null;
  last_activity_at: Date;
}

/** Everything a check needs, read once after the last input. */
interface CaseState {
  inputs: Map<number, MessageRow>;
  tickets: TicketRow[];
  participants: Map<number, string[]>;
  attachments: AttachmentRow[];
  events: Array<{ ticket_id: number; kind: string; data: { recipients?: Array<{ address: string; status: string | null }> } }>;
  autoresponses: Array<{ recipients: string[] }> | null;
  /** Messages left in the support mailbox's INBOX and in its processed folder (when one is configured). */
  mailbox: { inbox: number; processed: number };
  /** Routed ticket fields and matched rules, by input number. */
  routed: Map<number, RoutedInput>;
}

function imapSettings(environment: CaseEnvironment, mailbox: { user: string; password: string }): ImapConnectionSettings {
  return { host: environment.dovecot.host, port: environment.dovecot.imapPort, user: mailbox.user, password: mailbox.password, ssl: false, sslTrusted: false };
}

/** Empties the case tables; ids restart, so every case gets the same numbering. */
async function resetDatabase(environment: CaseEnvironment): Promise<void> {
  const tables: Array<{ tablename: string }> = (await environment.db.raw("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'knex_%'")).rows;
  // An activity of the previous case may still be finishing a transaction; a deadlock
  // with it (40P01) is retried.
  for (let attempt = 1; ; attempt++) {
    try {
      await environment.db.raw(`TRUNCATE ${tables.map((table) => `"${table.tablename}"`).join(', ')} RESTART IDENTITY CASCADE`);
      break;
    } catch (error) {
      if ((error as { code?: string }).code !== '40P01' || attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
  await writeInstallationSetting(environment.db, 'ticketTagTemplate', TAG_TEMPLATE);
  await writeInstallationSetting(environment.db, 'firstTicketNumber', FIRST_TICKET_NUMBER);
  await createTemplate(environment.db, {
    name: AUTORESPONSE_TEMPLATE,
    kind: 'autoresponse',
    subject: 'We received your message: {{ticket.title}}',
    text: 'Hello {{customer.name}},\n\nyour request is ticket {{ticket.number}} in {{queue.title}}.\n',
  });
}

async function createCaseQueue(environment: CaseEnvironment, number: number, title: string, mailbox: { user: string; password: string }, expected: CaseExpectation): Promise<QueueRecord> {
  const queue = await createQueue(environment.db, environment.secretKey, {
    outgoing: { host: '127.0.0.1', port: environment.smtp.port, security: 'none' },
    senderAddress: mailbox.user,
    autoresponseTemplate: AUTORESPONSE_TEMPLATE,
    autoresponseExceptions: expected.config?.autoresponse_exceptions ?? [],
    number,
    title,
    description: '',
    active: true,
    category: title,
    // Long poll interval: inputs are fetched on the mailArrived signal, one at a time.
    pollIntervalSeconds: 3600,
    maxMessageBytes: typeof expected.config?.max_message_bytes === 'number' ? expected.config.max_message_bytes : 26_214_400,
    incoming: {
      protocol: 'imap',
      host: environment.dovecot.host,
      port: environment.dovecot.imapPort,
      user: mailbox.user,
      password: mailbox.password,
      ssl: false,
      sslTrusted: true,
      dontKeepEmails: false,
      folder: 'INBOX',
      processedFolder: processedFolderOf(expected),
    },
  });
  return queue;
}

function uidValidityOf(expected: CaseExpectation, input: number): number | null {
  const entry = expected.imap?.[String(input)];
  if (entry && typeof entry === 'object' && 'uidvalidity' in entry && typeof entry.uidvalidity === 'number') return entry.uidvalidity;
  return null;
}

/**
 * Ends the case. It waits until every outgoing mail reached a final state, then
 * terminates every workflow still running (the queues' and any delivery). So nothing
 * writes to the tables the next case truncates, and no `outbox-<id>` workflow of this
 * case is mistaken for the next case's row with the same id.
 */
async function finishCase(environment: CaseEnvironment): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const open = await environment.db('outbox').whereIn('state', ['pending', 'sending', 'handed-to-event']).count<{ count: string }>('id as count').first();
    if (Number(open?.count ?? 0) === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  for await (const execution of environment.client.workflow.list({ query: 'ExecutionStatus = "Running"' })) {
    const handle = environment.client.workflow.getHandle(execution.workflowId, execution.runId);
    try {
      // Termination does not stop an activity already running on the worker, so wait
      // (briefly) until the workflow has none in flight.
      const idleBy = Date.now() + 10_000;
      while (Date.now() < idleBy && ((await handle.describe()).raw.pendingActivities?.length ?? 0) > 0) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await handle.terminate('case finished');
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
  }
}

/** Waits until the queue stored `deliveredCount` server copies and threaded and routed all of them; returns the newest copy's row. */
async function waitForProcessing(environment: CaseEnvironment, queue: QueueRecord, deliveredCount: number): Promise<number> {
  const deadline = Date.now() + INPUT_TIMEOUT_MS;
  for (;;) {
    const items: Array<{ message_row_id: number }> = await environment.db('mailbox_items').where({ queue_id: queue.id }).orderBy('id', 'desc').select('message_row_id');
    const pending = await environment.db('messages').where({ queue_id: queue.id, state: 'pending' }).count<{ count: string }>('id as count').first();
    const undecided = await environment.db('messages')
      .where({ queue_id: queue.id, state: 'threaded' })
      .where('thread_rule', 'like', 'new%')
      .whereNull('autoresponse_decided_at')
      .count<{ count: string }>('id as count')
      .first();
    const unrouted = await environment.db('messages')
      .where({ queue_id: queue.id, state: 'threaded', direction: 'incoming' })
      .whereNull('routed_at')
      .count<{ count: string }>('id as count')
      .first();
    if (items.length >= deliveredCount && Number(pending?.count ?? 0) === 0 && Number(undecided?.count ?? 0) === 0 && Number(unrouted?.count ?? 0) === 0) {
      return items[0].message_row_id;
    }
    if (Date.now() > deadline) {
      const status = await queryQueueStatus(environment.client, queue.number).catch(() => null);
      throw new Error(`input not processed within ${INPUT_TIMEOUT_MS} ms (stored copies ${items.length}/${deliveredCount}, last error: ${status?.lastError?.message ?? 'none'})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

async function readState(environment: CaseEnvironment, inputRows: Map<number, number>, queues: QueueRecord[]): Promise<CaseState> {
  const db = environment.db;
  const rows: MessageRow[] = await db('messages').whereIn('id', [...inputRows.values()]).select('id', 'ticket_id', 'state', 'subject', 'from', 'text', 'html', 'auto_submitted', 'bounce', 'created_at');
  const byId = new Map(rows.map((row) => [row.id, row]));
  const inputs = new Map<number, MessageRow>();
  for (const [input, rowId] of inputRows) {
    const row = byId.get(rowId);
    if (row) inputs.set(input, row);
  }
  const tickets: TicketRow[] = await db('tickets').whereIn('queue_id', queues.map((queue) => queue.id)).orderBy('id').select('id', 'number', 'requester_address', 'requester_flag', 'last_activity_at');
  const participantRows: Array<{ ticket_id: number; address: string }> = await db('ticket_participants').whereIn('ticket_id', tickets.map((ticket) => ticket.id)).select('ticket_id', 'address');
  const participants = new Map<number, string[]>();
  for (const row of participantRows) participants.set(row.ticket_id, [...(participants.get(row.ticket_id) ?? []), row.address]);
  const attachments: AttachmentRow[] = await db('attachments').whereIn('message_row_id', rows.map((row) => row.id)).select('message_row_id', 'filename', 'content_type', 'size', 'content_id', 'inline', 'sha256');
  const events = await db('ticket_events').whereIn('ticket_id', tickets.map((ticket) => ticket.id)).select('ticket_id', 'kind', 'data');
  return {
    inputs,
    tickets,
    participants,
    attachments,
    events,
    autoresponses: await readAutoresponses(environment, queues),
    mailbox: { inbox: 0, processed: 0 },
    routed: await readRoutedInputs(db, inputRows),
  };
}

/** Counts the support mailbox's messages; with a processed folder, waits until the queue has moved them. */
async function readMailbox(environment: CaseEnvironment, expected: CaseExpectation): Promise<{ inbox: number; processed: number }> {
  const settings = imapSettings(environment, supportMailbox);
  const folder = processedFolderOf(expected);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const inbox = (await listUids(settings, 'INBOX')).length;
    if (folder === null) return { inbox, processed: 0 };
    if (inbox === 0 || Date.now() > deadline) {
      const processed = (await listUids(settings, folder).catch(() => [])).length;
      return { inbox, processed };
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Auto-responses the queues decided to send, or null while the product has no outbox. */
async function readAutoresponses(environment: CaseEnvironment, queues: QueueRecord[]): Promise<Array<{ recipients: string[] }> | null> {
  if (!(await environment.db.schema.hasTable('outbox'))) return null;
  const rows: Array<{ recipients: string[] }> = await environment.db('outbox')
    .whereIn('queue_id', queues.map((queue) => queue.id))
    .where({ kind: 'autoresponse' })
    .whereNot('state', 'failed')
    .orderBy('id')
    .select('recipients');
  return rows;
}

function visibleText(row: MessageRow): string {
  const fromHtml = (row.html ?? '')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
  return `${row.text}\n${fromHtml}`.replace(/[ \t\r\n]+/g, ' ');
}

function compactSpaces(value: string): string {
  return value.replace(/\s+/g, ' ');
}

/** Checks one attachment expectation against the input's attachments. */
function checkAttachment(expected: CaseAttachmentExpectation, candidates: AttachmentRow[], inline: boolean, label: string): string[] {
  const found = candidates.find((attachment) => attachment.filename === expected.filename);
  if (!found) return [`${label} "${expected.filename}" missing (have: ${candidates.map((a) => `"${a.filename}"${a.inline ? ' inline' : ''}`).join(', ') || 'none'})`];
  const failures: string[] = [];
  if (found.inline !== inline) failures.push(`${label} "${expected.filename}" inline=${found.inline}, expected ${inline}`);
  if (expected.size !== undefined && found.size !== expected.size) failures.push(`${label} "${expected.filename}" size ${found.size}, expected ${expected.size}`);
  if (expected.content_type !== undefined && found.content_type !== expected.content_type) failures.push(`${label} "${expected.filename}" type ${found.content_type}, expected ${expected.content_type}`);
  if (expected.sha256 !== undefined && found.sha256 !== expected.sha256) failures.push(`${label} "${expected.filename}" sha256 differs`);
  if (expected.content_id !== undefined && found.content_id !== expected.content_id) failures.push(`${label} "${expected.filename}" content id ${found.content_id}, expected ${expected.content_id}`);
  return failures;
}

type Check = (expected: CaseExpectation, state: CaseState) => string[];

function ticketOf(state: CaseState, input: number): TicketRow | undefined {
  const row = state.inputs.get(input);
  return row?.ticket_id == null ? undefined : state.tickets.find((ticket) => ticket.id === row.ticket_id);
}

/** One check per expectation key; keys without an entry are reported as not checked. */
const checks: Record<string, Check> = {
  tickets: (expected, state) => (state.tickets.length === expected.tickets ? [] : [`tickets: expected ${expected.tickets}, got ${state.tickets.length}`]),

  threaded: (expected, state) => {
    const actual = state.tickets.map((ticket) => [...state.inputs].filter(([, row]) => row.ticket_id === ticket.id).map(([input]) => input).sort((a, b) => a - b));
    const want = JSON.stringify(expected.threaded);
    return JSON.stringify(actual) === want ? [] : [`threaded: expected ${want}, got ${JSON.stringify(actual)}`];
  },

  duplicates_ignored: (expected, state) =>
    (expected.duplicates_ignored ?? []).flatMap((input) => {
      const row = state.inputs.get(input);
      return row && row.ticket_id === null && row.state === 'duplicate' ? [] : [`input ${input} should be ignored as a duplicate (state ${row?.state}, ticket ${row?.ticket_id})`];
    }),

  own_messages_ignored: (expected, state) =>
    (expected.own_messages_ignored ?? []).flatMap((input) => {
      const row = state.inputs.get(input);
      return row && row.ticket_id === null && row.state === 'own' ? [] : [`input ${input} should be recognised as our own mail (state ${row?.state}, ticket ${row?.ticket_id})`];
    }),

  subject: (expected, state) => {
    const subject = state.inputs.get(1)?.subject;
    return subject === expected.subject ? [] : [`subject: expected ${JSON.stringify(expected.subject)}, got ${JSON.stringify(subject)}`];
  },

  subject_is_plain_text: (expected, state) => {
    const subject = state.inputs.get(1)?.subject;
    return subject === expected.subject ? [] : [`subject was changed on storage: ${JSON.stringify(subject)}`];
  },

  subjects: (expected, state) =>
    Object.entries(expected.subjects ?? {}).flatMap(([input, subject]) => {
      const actual = state.inputs.get(Number(input))?.subject;
      return actual === subject ? [] : [`subject of ${input}: expected ${JSON.stringify(subject)}, got ${JSON.stringify(actual)}`];
    }),

  normalized_subject_of_inputs: (expected, state) =>
    Object.entries(expected.normalized_subject_of_inputs ?? {}).flatMap(([input, subject]) => {
      const actual = ticketTitleFromSubject(state.inputs.get(Number(input))?.subject ?? '', TAG_TEMPLATE);
      return actual === subject ? [] : [`normalised subject of ${input}: expected ${JSON.stringify(subject)}, got ${JSON.stringify(actual)}`];
    }),

  subject_any_of: (expected, state) => {
    const options = expected.subject_any_of;
    const byInput: Record<string, string[]> = Array.isArray(options) ? { 1: options as string[] } : ((options ?? {}) as Record<string, string[]>);
    return Object.entries(byInput).flatMap(([input, subjects]) => {
      const actual = state.inputs.get(Number(input))?.subject ?? '';
      return subjects.includes(actual) ? [] : [`subject of ${input} ${JSON.stringify(actual)} is none of ${JSON.stringify(subjects)}`];
    });
  },

  from_names: (expected, state) =>
    Object.entries(expected.from_names ?? {}).flatMap(([input, name]) => {
      const actual = state.inputs.get(Number(input))?.from[0]?.name;
      return actual === name ? [] : [`sender name of ${input}: expected ${JSON.stringify(name)}, got ${JSON.stringify(actual)}`];
    }),

  body_contains: (expected, state) =>
    Object.entries(expected.body_contains ?? {}).flatMap(([input, needles]) => {
      const row = state.inputs.get(Number(input));
      const body = row ? compactSpaces(visibleText(row)) : '';
      return needles.filter((needle) => !body.includes(compactSpaces(needle))).map((needle) => `body of ${input} lacks ${JSON.stringify(needle)} (body starts ${JSON.stringify(body.slice(0, 120))})`);
    }),

  body_contains_any_of: (expected, state) =>
    Object.entries((expected.body_contains_any_of ?? {}) as Record<string, string[]>).flatMap(([input, needles]) => {
      const row = state.inputs.get(Number(input));
      const body = row ? compactSpaces(visibleText(row)) : '';
      return needles.some((needle) => body.includes(compactSpaces(needle))) ? [] : [`body of ${input} contains none of ${JSON.stringify(needles)}`];
    }),

  body_must_not_contain: (expected, state) => {
    const value = expected.body_must_not_contain;
    const byInput: Record<string, string[]> = Array.isArray(value) ? Object.fromEntries([...state.inputs.keys()].map((input) => [String(input), value as string[]])) : ((value ?? {}) as Record<string, string[]>);
    return Object.entries(byInput).flatMap(([input, needles]) => {
      const row = state.inputs.get(Number(input));
      const body = row ? `${row.text}\n${row.html ?? ''}`.toLowerCase() : '';
      return needles.filter((needle) => body.includes(needle.toLowerCase())).map((needle) => `body of ${input} still contains ${JSON.stringify(needle)}`);
    });
  },

  customers: (expected, state) => {
    const value = expected.customers;
    if (Array.isArray(value)) {
      const requesters = state.tickets.map((ticket) => ticket.requester_address);
      return (value as string[]).filter((address) => !requesters.includes(address.toLowerCase())).map((address) => `${address} is no ticket's customer`);
    }
    return Object.entries((value ?? {}) as Record<string, string>).flatMap(([input, description]) => {
      const address = description.split(/\s+/)[0].toLowerCase();
      const requester = ticketOf(state, Number(input))?.requester_address;
      return requester === address ? [] : [`customer of ${input}: expected ${address}, got ${requester}`];
    });
  },

  body_html_present: (_expected, state) => (state.inputs.get(1)?.html ? [] : ['input 1 has no HTML body']),

  body_html_must_contain: (expected, state) => {
    const html = compactSpaces(state.inputs.get(1)?.html ?? '');
    return (expected.body_html_must_contain ?? []).filter((needle) => !html.includes(compactSpaces(needle))).map((needle) => `HTML lacks ${JSON.stringify(needle)}`);
  },

  body_html_must_not_contain: (expected, state) => {
    const html = (state.inputs.get(1)?.html ?? '').toLowerCase();
    return (expected.body_html_must_not_contain ?? []).filter((needle) => html.includes(needle.toLowerCase())).map((needle) => `HTML still contains ${JSON.stringify(needle)}`);
  },

  attachments: (expected, state) => {
    const byInput: Record<string, CaseAttachmentExpectation[]> = Array.isArray(expected.attachments) ? { 1: expected.attachments } : (expected.attachments ?? {});
    return Object.entries(byInput).flatMap(([input, list]) => {
      const rowId = state.inputs.get(Number(input))?.id;
      const candidates = state.attachments.filter((attachment) => attachment.message_row_id === rowId);
      return list.flatMap((attachment) => checkAttachment(attachment, candidates, false, `attachment of ${input}`));
    });
  },

  inline_images: (expected, state) => {
    const rowId = state.inputs.get(1)?.id;
    const candidates = state.attachments.filter((attachment) => attachment.message_row_id === rowId);
    return (expected.inline_images ?? []).flatMap((image) => checkAttachment(image, candidates, true, 'inline image'));
  },

  must_not_contain_replacement_char: (_expected, state) =>
    [...state.inputs].flatMap(([input, row]) => {
      const fields = [row.subject, ...row.from.map((address) => address.name), row.text];
      return fields.some((field) => field.includes('\uFFFD')) ? [`input ${input} contains U+FFFD`] : [];
    }),

  requesters: (expected, state) =>
    Object.entries(expected.requesters ?? {}).flatMap(([input, description]) => {
      const address = description.split(/\s+/)[0].toLowerCase();
      const ticket = ticketOf(state, Number(input));
      const failures: string[] = [];
      if (ticket?.requester_address !== address) failures.push(`requester of ${input}: expected ${address}, got ${ticket?.requester_address}`);
      if (description.includes('flagged') && !ticket?.requester_flag) failures.push(`requester of ${input} should be flagged`);
      return failures;
    }),

  participants: (expected, state) =>
    Object.entries(expected.participants ?? {}).flatMap(([input, addresses]) => {
      const ticket = ticketOf(state, Number(input));
      const actual = ticket ? (state.participants.get(ticket.id) ?? []) : [];
      return addresses.filter((address) => !actual.includes(address.toLowerCase())).map((address) => `${address} is not a participant of the ticket of ${input}`);
    }),

  participants_of_ticket_1: (expected, state) => {
    const first = state.tickets[0];
    const actual = first ? (state.participants.get(first.id) ?? []) : [];
    return (expected.participants_of_ticket_1 ?? []).filter((address) => !actual.includes(address.toLowerCase())).map((address) => `${address} is not a participant of the first ticket`);
  },

  auto_replies_detected: (expected, state) =>
    (expected.auto_replies_detected ?? []).flatMap((input) => (state.inputs.get(input)?.auto_submitted ? [] : [`input ${input} not flagged as automatic`])),

  bounces_detected: (expected, state) => (expected.bounces_detected ?? []).flatMap((input) => (state.inputs.get(input)?.bounce ? [] : [`input ${input} not flagged as a bounce`])),

  delivery_failure_recorded: (expected, state) => {
    const wanted = expected.delivery_failure_recorded;
    if (!wanted) return [];
    const ticket = ticketOf(state, wanted.ticket_of_input);
    const recorded = state.events.some(
      (event) =>
        event.ticket_id === ticket?.id &&
        event.kind === 'delivery-failure' &&
        (event.data.recipients ?? []).some((recipient) => recipient.address.toLowerCase() === wanted.recipient && recipient.status === wanted.status),
    );
    return recorded ? [] : [`no delivery failure for ${wanted.recipient} (${wanted.status}) on the ticket of ${wanted.ticket_of_input}`];
  },

  ticket_status_change_by_auto_replies: (expected, state) => {
    if (expected.ticket_status_change_by_auto_replies !== false) return [];
    return (expected.auto_replies_detected ?? []).flatMap((input) => {
      const row = state.inputs.get(input);
      const ticket = ticketOf(state, input);
      return row && ticket && ticket.last_activity_at >= row.created_at ? [`automatic input ${input} counted as customer activity`] : [];
    });
  },

  must_not_block_later_messages: (_expected, state) => [...state.inputs].filter(([, row]) => row.state === 'pending').map(([input]) => `input ${input} never processed`),

  config: (expected) => {
    const unsupported = Object.keys(expected.config ?? {}).filter((key) => !supportedConfigKeys.has(key));
    const badMove = expected.config?.after_processing !== undefined && processedFolderOf(expected) === null;
    return [...unsupported.map((key) => `config.${key} is not supported by this runner`), ...(badMove ? [`config.after_processing "${expected.config?.after_processing}" is not a move`] : [])];
  },

  mailbox_actions: (expected, state) => {
    const folder = processedFolderOf(expected);
    if (folder === null) return ['mailbox_actions needs config.after_processing'];
    const inputs = expected.inputs?.length ?? 0;
    const failures: string[] = [];
    if (state.mailbox.inbox !== 0) failures.push(`${state.mailbox.inbox} messages left in INBOX`);
    if (state.mailbox.processed !== inputs) failures.push(`${state.mailbox.processed} messages in ${folder}, expected ${inputs}`);
    return failures;
  },

  category: (expected, state) => checkFieldPerInput('category', expected.category, state.routed),

  priority: (expected, state) => checkFieldPerInput('priority', expected.priority, state.routed),

  ticket_fields: (expected, state) => checkTicketFields(expected.ticket_fields, state.routed),

  routing_rules_matched: (expected, state) => checkMatchedRules(expected.routing_rules_matched, state.routed),

  autoresponses: (expected, state) =>
    state.autoresponses === null || state.autoresponses.length === expected.autoresponses ? [] : [`auto-responses: expected ${expected.autoresponses}, got ${state.autoresponses.length}`],

  autoresponse_to: (expected, state) => {
    if (state.autoresponses === null) return [];
    const actual = state.autoresponses.flatMap((row) => row.recipients.map((address) => address.toLowerCase()));
    const want = (expected.autoresponse_to ?? []).map((address) => address.toLowerCase());
    return JSON.stringify(actual) === JSON.stringify(want) ? [] : [`auto-responses went to ${JSON.stringify(actual)}, expected ${JSON.stringify(want)}`];
  },
};

/** Keys whose check needs a product feature that may not exist yet. */
function featureMissing(key: string, state: CaseState): boolean {
  return (key === 'autoresponses' || key === 'autoresponse_to') && state.autoresponses === null;
}

/** Plays one case folder and compares the outcome with its expectations. */
export async function playCase(environment: CaseEnvironment, definition: CaseDefinition): Promise<CaseOutcome> {
  const { expected } = definition;
  const outcome: CaseOutcome = { name: definition.name, failures: [], unchecked: [] };
  await resetDatabase(environment);

  const support = await createCaseQueue(environment, 1000 + definition.index * 2, 'Support', supportMailbox, expected);
  const billing = await createCaseQueue(environment, 1001 + definition.index * 2, 'Billing', billingMailbox, expected);
  const queues = [support, billing];
  const mailRoots = { support: environment.dovecot.mailRoot(supportMailbox.user), billing: environment.dovecot.mailRoot(billingMailbox.user) };
  await recreateFolder(imapSettings(environment, supportMailbox), 'INBOX', { mailRoot: mailRoots.support });
  await recreateFolder(imapSettings(environment, billingMailbox), 'INBOX', { mailRoot: mailRoots.billing });

  const inputRows = new Map<number, number>();
  const delivered = new Map<number, number>();
  try {
    await saveCaseRoutingRules(environment.db, expected, { support, billing });
    for (const queue of queues) await startQueueWorkflow(environment.client, queue);

    const inputs = expected.inputs ?? [];
    for (const [position, file] of inputs.entries()) {
      const input = position + 1;
      const toBilling = (expected.fetched_from?.[String(input)] ?? '').includes(billingMailbox.user);
      const queue = toBilling ? billing : support;
      const mailbox = toBilling ? billingMailbox : supportMailbox;

      const previousValidity = uidValidityOf(expected, input - 1);
      const validity = uidValidityOf(expected, input);
      if (previousValidity !== null && validity !== null && validity !== previousValidity) {
        // The case states that the server renumbered the folder, so Dovecot is made to do the same.
        await recreateFolder(imapSettings(environment, mailbox), 'INBOX', { mailRoot: toBilling ? mailRoots.billing : mailRoots.support });
      }

      await appendMessages(imapSettings(environment, mailbox), 'INBOX', [await readFile(join(definition.dir, file))]);
      delivered.set(queue.id, (delivered.get(queue.id) ?? 0) + 1);
      await signalMailArrived(environment.client, queue.number);
      inputRows.set(input, await waitForProcessing(environment, queue, delivered.get(queue.id) ?? 0));

      for (const fixture of (expected.outgoing_fixtures ?? []).filter((entry) => entry.after_input === input)) {
        const ticketId = (await environment.db('messages').where({ id: inputRows.get(fixture.ticket_of_input) }).first('ticket_id'))?.ticket_id;
        const ticket = ticketId ? await environment.db('tickets').where({ id: ticketId }).first('number') : undefined;
        if (!ticket) {
          outcome.failures.push(`input ${fixture.ticket_of_input} has no ticket to record ${fixture.file} on`);
          continue;
        }
        await importMessages(environment.db, support, [await readFile(join(definition.dir, fixture.file))], { outgoingTicketNumber: ticket.number }, testLogger);
      }
    }

    const state = await readState(environment, inputRows, queues);
    state.mailbox = await readMailbox(environment, expected);
    for (const key of Object.keys(expected)) {
      if (descriptiveKeys.has(key)) continue;
      const check = checks[key];
      if (check === undefined || featureMissing(key, state)) {
        outcome.unchecked.push(key);
        continue;
      }
      outcome.failures.push(...check(expected, state));
    }
  } catch (error) {
    outcome.failures.push(error instanceof Error ? error.message : String(error));
  } finally {
    await finishCase(environment);
  }
  return outcome;
}

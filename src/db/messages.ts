import type { Knex } from 'knex';
import type { ParsedAddress, ParsedMessage } from '../mail/parsed-message.js';

/** Server location of an incoming copy, for "don't keep emails" and duplicate detection. */
export interface MailboxLocation {
  folder: string;
  uidValidity: string;
  uid: number;
}

/** Columns of a stored message that decide where an answer to it goes and how the answer threads. */
export interface AnsweredMessageRow {
  id: number;
  message_id: string;
  message_id_synthetic: boolean;
  references: string[];
  from: ParsedAddress[];
  sender: ParsedAddress | null;
  reply_to: ParsedAddress[];
}

export interface StoreMessageInput {
  queueId: number;
  direction: 'incoming' | 'outgoing';
  sourceKey: string;
  raw: Buffer;
  contentHash: string;
  parsed: ParsedMessage;
  automation: { autoSubmitted: boolean; bounce: boolean; list: boolean; reasons: string[] };
  imported: boolean;
  mailbox?: MailboxLocation;
  /** For outgoing mail recorded on a ticket: the ticket, and the row starts as threaded. */
  ticketId?: number;
  /** Alias addresses the message was delivered to, as reported by the source. */
  deliveredTo?: string[];
  /** Record `sourceKey` in `mailbox_source_items` whatever the outcome, so the source copy is not downloaded again. */
  recordSourceItem?: boolean;
}

export type StoreMessageOutcome =
  | { status: 'stored'; messageRowId: number; messageIdReused: boolean }
  | { status: 'already-stored'; messageRowId: number }
  | { status: 'duplicate'; messageRowId: number };

/** PostgreSQL jsonb rejects U+0000 even escaped, so it is removed from serialised JSON. */
function json(value: unknown): string {
  return JSON.stringify(value).replace(/\\u0000/g, '');
}

function text(value: string): string {
  return value.replace(/\u0000/g, '');
}

/**
 * Stores one message idempotently, raw bytes included, in the caller's transaction.
 * A server copy seen before (same queue, folder, UIDVALIDITY and UID) is not stored
 * again, and neither is the same mail (Message-ID plus content hash) in the same queue.
 * The same Message-ID with other content is a different mail and is stored.
 */
export async function storeMessage(trx: Knex.Transaction, input: StoreMessageInput): Promise<StoreMessageOutcome> {
  const { parsed, mailbox } = input;

  if (mailbox) {
    const seen: { message_row_id: number } | undefined = await trx('mailbox_items')
      .where({ queue_id: input.queueId, folder: mailbox.folder, uid_validity: mailbox.uidValidity, uid: mailbox.uid })
      .first('message_row_id');
    if (seen) {
      return { status: 'already-stored', messageRowId: seen.message_row_id };
    }
  }

  const bySource: { id: number } | undefined = await trx('messages').where({ queue_id: input.queueId, source_key: input.sourceKey }).first('id');
  if (bySource) {
    await recordMailboxItem(trx, input, bySource.id);
    await recordSourceItem(trx, input, bySource.id);
    return { status: 'already-stored', messageRowId: bySource.id };
  }

  const sameId: Array<{ id: number; content_hash: string }> = await trx('messages')
    .where({ queue_id: input.queueId, message_id: parsed.messageId, direction: input.direction })
    .select('id', 'content_hash');
  const sameMail = sameId.find((row) => row.content_hash === input.contentHash);
  if (sameMail) {
    await recordMailboxItem(trx, input, sameMail.id);
    await recordSourceItem(trx, input, sameMail.id);
    return { status: 'duplicate', messageRowId: sameMail.id };
  }

  const [row] = await trx('messages')
    .insert({
      queue_id: input.queueId,
      ticket_id: input.ticketId ?? null,
      direction: input.direction,
      source_key: input.sourceKey,
      message_id: text(parsed.messageId),
      message_id_synthetic: parsed.messageIdSynthetic,
      content_hash: input.contentHash,
      in_reply_to: json(parsed.inReplyTo),
      references: json(parsed.references),
      from: json(parsed.from),
      sender: parsed.sender ? json(parsed.sender) : null,
      to: json(parsed.to),
      cc: json(parsed.cc),
      reply_to: json(parsed.replyTo),
      return_path: parsed.returnPath === null ? null : text(parsed.returnPath),
      subject: text(parsed.subject),
      date: parsed.date,
      text: text(parsed.text),
      html: parsed.html === null ? null : text(parsed.html),
      headers: json(parsed.headers),
      content_type: text(parsed.contentType),
      auto_submitted: input.automation.autoSubmitted,
      bounce: input.automation.bounce,
      list: input.automation.list,
      automation_reasons: json(input.automation.reasons),
      bounce_report: parsed.bounce ? json(parsed.bounce) : null,
      parse_error: parsed.parseError === null ? null : text(parsed.parseError),
      raw: input.raw,
      raw_size: input.raw.length,
      state: input.ticketId === undefined ? 'pending' : 'threaded',
      thread_rule: input.ticketId === undefined ? null : 'recorded-outgoing',
      imported: input.imported,
      delivered_to: json(input.deliveredTo ?? []),
    })
    .returning<Array<{ id: number }>>('id');

  for (const attachment of parsed.attachments) {
    await trx('attachments').insert({
      message_row_id: row.id,
      filename: text(attachment.filename),
      content_type: text(attachment.contentType),
      size: attachment.size,
      content_id: attachment.contentId === null ? null : text(attachment.contentId),
      inline: attachment.inline,
      sha256: attachment.sha256,
      content: attachment.content,
    });
  }

  await recordMailboxItem(trx, input, row.id);
  await recordSourceItem(trx, input, row.id);
  return { status: 'stored', messageRowId: row.id, messageIdReused: sameId.length > 0 };
}

async function recordSourceItem(trx: Knex.Transaction, input: StoreMessageInput, messageRowId: number): Promise<void> {
  if (input.recordSourceItem !== true) return;
  await trx('mailbox_source_items').insert({ queue_id: input.queueId, source_key: input.sourceKey, message_row_id: messageRowId }).onConflict(['queue_id', 'source_key']).ignore();
}

async function recordMailboxItem(trx: Knex.Transaction, input: StoreMessageInput, messageRowId: number): Promise<void> {
  if (!input.mailbox) {
    return;
  }
  await trx('mailbox_items')
    .insert({
      queue_id: input.queueId,
      folder: input.mailbox.folder,
      uid_validity: input.mailbox.uidValidity,
      uid: input.mailbox.uid,
      message_row_id: messageRowId,
    })
    .onConflict(['queue_id', 'folder', 'uid_validity', 'uid'])
    .ignore();
}

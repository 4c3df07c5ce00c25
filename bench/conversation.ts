/**
 * Synthetic incoming mail for the threading benchmark: conversations that start with a new
 * message and continue with replies carrying In-Reply-To and References to earlier ones.
 * Built together with its ParsedMessage, so setting up 500 pending rows takes no parsing.
 */
import type { ParsedMessage } from '../src/mail/parsed-message.js';

/** One generated message: its wire bytes and the parse result storage needs. */
export interface GeneratedMessage {
  raw: Buffer;
  parsed: ParsedMessage;
  /** True when it starts a conversation and should become a new ticket. */
  startsThread: boolean;
}

/** Every message before this index starts a conversation, so replies have several to choose from. */
const openingMessages = 20;

/** After the opening, every fourth message starts a conversation and the rest are replies. */
const newThreadEvery = 4;

/** References kept on a reply, newest last, as mail clients trim long chains. */
const maxReferences = 10;

/** Fixed-seed linear congruential generator: the same conversation shape in every round and run. */
function parentPicker(seed: number): (below: number) => number {
  let state = seed;
  return (below) => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state % below;
  };
}

function rawMessage(message: Omit<ParsedMessage, 'headers'>, headers: Array<[string, string]>): Buffer {
  const lines = headers.map(([name, value]) => `${name}: ${value}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${message.text.replace(/\n/g, '\r\n')}\r\n`, 'utf8');
}

/**
 * Generates `count` messages to `supportAddress`. `tag` goes into every Message-ID so that
 * two rounds never share an ID (threading compares IDs across queues). Dates are fixed
 * offsets from `startMs` (milliseconds since the epoch), one minute apart.
 */
export function generateConversation(count: number, tag: string, supportAddress: string, startMs: number): GeneratedMessage[] {
  const pickParent = parentPicker(42);
  const messages: GeneratedMessage[] = [];

  for (let index = 0; index < count; index += 1) {
    const startsThread = index < openingMessages || index % newThreadEvery === 0;
    const parent = startsThread ? undefined : messages[pickParent(index)].parsed;
    const customer = startsThread ? `customer${index}@customer.example.org` : (parent?.from[0]?.address ?? '');
    const messageId = `bench-${tag}-${index}@customer.example.org`;
    const references = parent === undefined ? [] : [...parent.references, parent.messageId].slice(-maxReferences);
    const subject = parent === undefined ? `Order ${1000 + index} has not arrived` : `Re: ${parent.subject.replace(/^Re: /, '')}`;
    const date = new Date(startMs + index * 60_000).toISOString();
    const text = `Hello,\n\nmessage ${index} about ${subject}.\n\nRegards\n`;

    const headers: Array<[string, string]> = [
      ['from', `Customer ${index} <${customer}>`],
      ['to', `Support <${supportAddress}>`],
      ['subject', subject],
      ['date', new Date(date).toUTCString()],
      ['message-id', `<${messageId}>`],
      ...(parent === undefined ? [] : ([['in-reply-to', `<${parent.messageId}>`], ['references', references.map((id) => `<${id}>`).join(' ')]] as Array<[string, string]>)),
      ['content-type', 'text/plain; charset=utf-8'],
    ];
    const body: Omit<ParsedMessage, 'headers'> = {
      messageId,
      messageIdSynthetic: false,
      inReplyTo: parent === undefined ? [] : [parent.messageId],
      references,
      from: [{ name: `Customer ${index}`, address: customer }],
      sender: null,
      to: [{ name: 'Support', address: supportAddress }],
      cc: [],
      replyTo: [],
      returnPath: customer,
      subject,
      date,
      text,
      html: null,
      attachments: [],
      contentType: 'text/plain',
      bounce: null,
      parseError: null,
    };

    messages.push({ raw: rawMessage(body, headers), parsed: { ...body, headers }, startsThread });
  }
  return messages;
}

import type { FastifyInstance, FastifyReply } from 'fastify';
import { sendAgentReply } from '../../client/agent-reply.js';
import { findVisibleAttachment, findVisibleMessage, findVisibleTicket, listVisibleTickets, MAX_PAGE_SIZE, ViewNotFoundError } from '../../db/ticket-access.js';
import { loadTicketView } from '../../db/ticket-views.js';
import { parseViewOrder, viewOrderFields } from '../../domain/view-definition.js';
import { currentUser } from '../auth.js';
import { fromFieldIssues, notFound } from '../errors.js';
import { bodyIssuesFromLines, numberParams, positiveInteger } from '../schemas.js';
import type { RouteContext } from '../server.js';

/**
 * Tickets as agents work them: listing by view, detail, raw message and attachment
 * downloads, and replies. Every read goes through src/db/ticket-access.ts, so category
 * rights apply, and a forbidden ticket gets exactly the response of a missing one.
 */

const tags = ['tickets'];

const ticketSummary = {
  type: 'object',
  properties: {
    number: { type: 'integer' },
    queueNumber: { type: 'integer' },
    title: { type: 'string' },
    category: { type: ['string', 'null'] },
    status: { type: 'string' },
    priority: { type: 'string' },
    stage: { type: ['string', 'null'] },
    ownerAlias: { type: ['string', 'null'] },
    extraStatuses: { type: 'array', items: { type: 'string' } },
    customFields: { type: 'object', additionalProperties: true },
    requesterAddress: { type: ['string', 'null'] },
    requesterName: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    lastActivityAt: { type: 'string', format: 'date-time' },
  },
} as const;

const address = { type: 'object', properties: { name: { type: 'string' }, address: { type: ['string', 'null'] } } } as const;

const messageSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    direction: { type: 'string' },
    messageId: { type: 'string' },
    from: { type: 'array', items: address },
    to: { type: 'array', items: address },
    cc: { type: 'array', items: address },
    subject: { type: 'string' },
    date: { type: ['string', 'null'] },
    threadRule: { type: ['string', 'null'] },
    autoSubmitted: { type: 'boolean' },
    bounce: { type: 'boolean' },
    parseError: { type: ['string', 'null'] },
    text: { type: 'string' },
    html: { type: ['string', 'null'] },
    rawUrl: { type: 'string', description: 'Where to download the message as it arrived (message/rfc822)' },
    attachments: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'integer' },
          filename: { type: 'string' },
          contentType: { type: 'string' },
          size: { type: 'integer' },
          contentId: { type: ['string', 'null'] },
          inline: { type: 'boolean' },
          sha256: { type: 'string' },
          url: { type: 'string' },
        },
      },
    },
  },
} as const;

const eventSchema = { type: 'object', properties: { kind: { type: 'string' }, data: {}, createdAt: { type: 'string', format: 'date-time' } } } as const;

const detailResponse = {
  type: 'object',
  properties: {
    ticket: ticketSummary,
    participants: { type: 'array', items: { type: 'object', properties: { address: { type: 'string' }, name: { type: 'string' }, role: { type: 'string' } } } },
    messages: { type: 'array', items: messageSchema },
    routing: { type: 'array', items: eventSchema, description: 'What routing rules matched each incoming message and what they changed' },
    events: { type: 'array', items: eventSchema },
    outbox: { type: 'array', items: { type: 'object', additionalProperties: true } },
  },
} as const;

const sortPattern = `^(${viewOrderFields.join('|')})(:(asc|desc))?(,(${viewOrderFields.join('|')})(:(asc|desc))?)*$`;

const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    view: { ...positiveInteger, description: 'Id of a saved view you may open: its filters and order apply' },
    page: { ...positiveInteger, default: 1 },
    pageSize: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: 50 },
    sort: { type: 'string', pattern: sortPattern, description: `Comma-separated fields, each optionally ":asc" or ":desc", such as "priority:desc,number"; fields: ${viewOrderFields.join(', ')}` },
  },
} as const;

const replyBody = {
  type: 'object',
  required: ['text'],
  additionalProperties: false,
  properties: {
    text: { type: 'string', minLength: 1, maxLength: 1_000_000, description: 'Plain-text body; the queue adds signature and survey blocks' },
    html: { type: ['string', 'null'], maxLength: 2_000_000 },
    attachments: {
      type: 'array',
      maxItems: 20,
      items: {
        type: 'object',
        required: ['filename', 'contentType', 'contentBase64'],
        additionalProperties: false,
        properties: {
          filename: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[^\\u0000-\\u001f\\u007f/\\\\]+$' },
          contentType: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$' },
          contentBase64: { type: 'string', maxLength: 28_000_000, pattern: '^[A-Za-z0-9+/]*={0,2}$' },
        },
      },
    },
  },
} as const;

const replyHeaders = {
  type: 'object',
  properties: { 'idempotency-key': { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,200}$', description: 'Repeat a request with the same key to get the first reply back instead of a second mail' } },
} as const;

interface ReplyBody {
  text: string;
  html?: string | null;
  attachments?: Array<{ filename: string; contentType: string; contentBase64: string }>;
}

// A stored content type that is not a plain type/subtype is served as bytes, never as markup.
const safeContentType = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

/** Sends bytes as a download: never rendered inline by a browser, never sniffed. */
function download(reply: FastifyReply, content: Buffer, contentType: string, filename: string): FastifyReply {
  const asciiName = filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return reply
    .header('Content-Type', safeContentType.test(contentType) ? contentType : 'application/octet-stream')
    .header('Content-Disposition', `attachment; filename="${asciiName}"; filename*=UTF-8''${encodeURIComponent(filename)}`)
    .header('X-Content-Type-Options', 'nosniff')
    .send(content);
}

export function registerTicketRoutes(app: FastifyInstance, context: RouteContext): void {
  const { db, temporal, logger, taskQueue } = context;

  app.get<{ Querystring: { view?: number; page?: number; pageSize?: number; sort?: string } }>(
    '/tickets',
    {
      config: { access: 'agent' },
      schema: {
        tags,
        summary: 'List the tickets you may see, all or by view, a page at a time',
        querystring: listQuery,
        response: { 200: { type: 'object', properties: { tickets: { type: 'array', items: ticketSummary }, total: { type: 'integer' }, page: { type: 'integer' }, pageSize: { type: 'integer' } } } },
      },
    },
    async (request) => {
      const { view, sort } = request.query;
      const page = request.query.page ?? 1;
      const pageSize = request.query.pageSize ?? 50;
      let order;
      if (sort !== undefined) {
        const parsed = parseViewOrder(sort.split(',').map((entry) => ({ field: entry.split(':')[0], direction: entry.split(':')[1] ?? 'asc' })));
        if (parsed.value === null) throw fromFieldIssues(bodyIssuesFromLines(parsed.errors).map((issue) => ({ field: 'querystring.sort', message: issue.message })));
        order = parsed.value;
      }
      try {
        const result = await listVisibleTickets(db, currentUser(request), { viewId: view, sort: order, page, pageSize });
        return { tickets: result.tickets, total: result.total, page, pageSize };
      } catch (error) {
        if (error instanceof ViewNotFoundError) throw notFound('The view');
        throw error;
      }
    },
  );

  app.get<{ Params: { number: number } }>(
    '/tickets/:number',
    { config: { access: 'agent' }, schema: { tags, summary: 'A ticket with its messages, attachments and routing trail', params: numberParams, response: { 200: detailResponse } } },
    async (request) => {
      const number = request.params.number;
      const ticket = await findVisibleTicket(db, currentUser(request), number);
      const view = ticket === null ? null : await loadTicketView(db, number);
      if (ticket === null || view === null) throw notFound('The ticket');
      return {
        ticket,
        participants: view.participants,
        messages: view.messages.map((message) => ({
          ...message,
          rawUrl: `/tickets/${number}/messages/${message.id}/raw`,
          attachments: message.attachments.map((attachment) => ({ ...attachment, url: `/tickets/${number}/attachments/${attachment.id}` })),
        })),
        routing: view.events.filter((event) => event.kind === 'routing'),
        events: view.events,
        outbox: view.outbox,
      };
    },
  );

  app.get<{ Params: { number: number; messageId: number } }>(
    '/tickets/:number/messages/:messageId/raw',
    {
      config: { access: 'agent' },
      schema: {
        tags,
        summary: 'Download a message as it arrived (message/rfc822)',
        params: { type: 'object', required: ['number', 'messageId'], additionalProperties: false, properties: { number: positiveInteger, messageId: positiveInteger } },
        response: { 200: { description: 'The raw message bytes', content: { 'message/rfc822': { schema: { type: 'string', format: 'binary' } } } } },
      },
    },
    async (request, reply) => {
      const message = await findVisibleMessage(db, currentUser(request), request.params.messageId);
      if (message === null || message.ticketNumber !== request.params.number) throw notFound('The message');
      return download(reply, message.raw, 'message/rfc822', `ticket-${message.ticketNumber}-message-${message.id}.eml`);
    },
  );

  app.get<{ Params: { number: number; attachmentId: number } }>(
    '/tickets/:number/attachments/:attachmentId',
    {
      config: { access: 'agent' },
      schema: {
        tags,
        summary: 'Download an attachment',
        params: { type: 'object', required: ['number', 'attachmentId'], additionalProperties: false, properties: { number: positiveInteger, attachmentId: positiveInteger } },
        response: { 200: { description: 'The attachment bytes, with its stored content type', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } } },
      },
    },
    async (request, reply) => {
      const attachment = await findVisibleAttachment(db, currentUser(request), request.params.attachmentId);
      if (attachment === null || attachment.ticketNumber !== request.params.number) throw notFound('The attachment');
      return download(reply, attachment.content, attachment.contentType, attachment.filename);
    },
  );

  app.post<{ Params: { number: number }; Body: ReplyBody; Headers: { 'idempotency-key'?: string } }>(
    '/tickets/:number/replies',
    {
      config: { access: 'agent' },
      schema: {
        tags,
        summary: "Reply to the ticket's customer through its queue",
        description: 'Writes the reply to the outbox as the calling user (sender info, signature, survey, threading headers) and starts its delivery.',
        params: numberParams,
        headers: replyHeaders,
        body: replyBody,
        response: {
          202: {
            type: 'object',
            properties: { outboxId: { type: 'integer' }, messageId: { type: 'string' }, recipient: { type: 'string' }, workflowId: { type: 'string' }, created: { type: 'boolean' } },
          },
        },
      },
    },
    async (request, reply) => {
      const user = currentUser(request);
      const number = request.params.number;
      if ((await findVisibleTicket(db, user, number)) === null) throw notFound('The ticket');

      const key = request.headers['idempotency-key'];
      const sent = await sendAgentReply(
        db,
        temporal,
        {
          ticketNumber: number,
          userAlias: user.alias,
          text: request.body.text,
          html: request.body.html ?? null,
          attachments: (request.body.attachments ?? []).map((attachment) => ({ filename: attachment.filename, contentType: attachment.contentType, content: Buffer.from(attachment.contentBase64, 'base64') })),
          // Scoped to the user so two agents' keys never collide.
          ...(key === undefined ? {} : { idempotencyKey: `api:${user.id}:${key}` }),
        },
        logger,
        taskQueue,
      );
      return reply.status(202).send(sent);
    },
  );
}

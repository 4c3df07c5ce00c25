import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the Gmail API v1, on 127.0.0.1 with a random port, for one mailbox.
 *
 * Request and response shapes follow Google's published reference:
 * - paths, parameters and JSON fields: https://developers.google.com/workspace/gmail/api/reference/rest
 *   (users.getProfile, users.messages.list/get/trash/send, users.history.list)
 * - sync rules (history ids, 404 for an expired startHistoryId, full sync afterwards):
 *   https://developers.google.com/workspace/gmail/api/guides/sync
 * - error bodies `{ error: { code, message, status, errors: [{ reason }] } }` and 401/403/429/500/503:
 *   https://developers.google.com/workspace/gmail/api/guides/handle-errors
 *
 * Lists are newest first, as Gmail lists them. Page tokens are opaque strings. Only what the
 * adapters use is implemented, and any other path returns 404.
 */
export interface FakeGmail {
  /** Root URL to give the adapter as `apiBaseUrl`. */
  readonly rootUrl: string;
  /** The account's address; `userId` may be `me` or this. */
  readonly emailAddress: string;
  /** Adds a received message with these labels (default INBOX) and records a messageAdded history entry. Returns its id. */
  addMessage(raw: Buffer, labelIds?: string[]): string;
  /** Adds labels to a message and records a labelAdded history entry. */
  addLabels(id: string, labelIds: string[]): void;
  /** Invalidates the page tokens of messages.list issued so far; using one returns 400. */
  expirePageTokens(): void;
  /** Forgets all history so far: a later history.list with an older startHistoryId returns 404. */
  expireHistory(): void;
  /** Makes the next `count` requests fail with `status` (429, 500, 503, 401…), with Retry-After when given. */
  failNext(count: number, status: number, retryAfter?: string): void;
  /** Leaves the next `count` requests without a response until the fake closes, to provoke client timeouts. */
  stallNext(count: number): void;
  /** Accepts only this bearer token (null: any non-empty token). */
  requireToken(token: string | null): void;
  /** Messages received by users.messages.send, with the decoded bytes. */
  readonly sent: Array<{ id: string; raw: Buffer }>;
  /** Ids moved to Trash. */
  readonly trashed: string[];
  /** Every request, in order, without its Authorization header value. */
  readonly requests: Array<{ method: string; path: string; query: URLSearchParams; status: number }>;
  close(): Promise<void>;
}

interface StoredMessage {
  id: string;
  threadId: string;
  raw: Buffer;
  labelIds: Set<string>;
  historyId: number;
  internalDate: number;
}

interface HistoryRecord {
  id: number;
  messageId: string;
  type: 'messageAdded' | 'labelAdded';
  /** Labels of the message when the record was written. */
  labelIds: string[];
  addedLabelIds: string[];
}

const defaultPageSize = 100;
const maxPageSize = 500;

function googleError(code: number, message: string, status: string, reason: string): string {
  return JSON.stringify({ error: { code, message, errors: [{ message, domain: 'global', reason }], status } });
}

const failureBodies: Record<number, { message: string; status: string; reason: string }> = {
  401: { message: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.', status: 'UNAUTHENTICATED', reason: 'authError' },
  403: { message: 'Insufficient Permission', status: 'PERMISSION_DENIED', reason: 'insufficientPermissions' },
  429: { message: 'Too many concurrent requests for user', status: 'RESOURCE_EXHAUSTED', reason: 'rateLimitExceeded' },
  500: { message: 'Internal error encountered.', status: 'INTERNAL', reason: 'backendError' },
  503: { message: 'The service is currently unavailable.', status: 'UNAVAILABLE', reason: 'backendError' },
};

function encodeToken(value: string): string {
  return Buffer.from(value, 'utf8').toString('base64url');
}

function decodeToken(token: string): string {
  return Buffer.from(token, 'base64url').toString('utf8');
}

/** Marks a forced failure that sends no response at all, recorded as status 0. */
const stalled = 0;

/** Returns the Message-ID header of a raw message without angle brackets, or ''. */
function messageIdOf(raw: Buffer): string {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end === -1 ? raw.length : end).toString('latin1');
  return /^message-id:\s*<?([^\s>]+)>?/im.exec(head)?.[1] ?? '';
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Starts the fake on 127.0.0.1 with a random port. */
export async function startFakeGmail(options: { emailAddress?: string } = {}): Promise<FakeGmail> {
  const emailAddress = options.emailAddress ?? 'support@helpdesk.example.com';
  const messages = new Map<string, StoredMessage>();
  const history: HistoryRecord[] = [];
  const forced: Array<{ status: number; retryAfter?: string }> = [];
  const sent: Array<{ id: string; raw: Buffer }> = [];
  const trashed: string[] = [];
  const requests: FakeGmail['requests'] = [];
  let currentHistoryId = 1000;
  let oldestHistoryId = 1000;
  let nextMessageNumber = 1;
  let requiredToken: string | null = null;
  let pageTokenGeneration = 1;
  const knownLabels = new Set(['INBOX', 'SENT', 'TRASH', 'SPAM', 'DRAFT', 'STARRED', 'IMPORTANT', 'UNREAD', 'CATEGORY_PERSONAL', 'CATEGORY_UPDATES']);

  // Gmail ids are 16 hex digits; fixed width keeps string order equal to arrival order.
  const newMessageId = (): string => (0x18c0000000000000n + BigInt(nextMessageNumber++)).toString(16);

  const store = (raw: Buffer, labelIds: string[]): string => {
    const id = newMessageId();
    for (const label of labelIds) knownLabels.add(label);
    currentHistoryId += 1;
    messages.set(id, { id, threadId: id, raw, labelIds: new Set(labelIds), historyId: currentHistoryId, internalDate: Date.now() });
    history.push({ id: currentHistoryId, messageId: id, type: 'messageAdded', labelIds: [...labelIds], addedLabelIds: [] });
    return id;
  };

  const send = (response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): number => {
    response.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8', ...headers });
    response.end(body);
    return status;
  };

  const fail = (response: ServerResponse, status: number, retryAfter?: string): number => {
    const body = failureBodies[status] ?? { message: `Fake failure ${status}`, status: 'UNKNOWN', reason: 'unknown' };
    const headers: Record<string, string> = {};
    if (retryAfter !== undefined) {
      headers['Retry-After'] = retryAfter;
    }
    if (status === 401) {
      headers['WWW-Authenticate'] = 'Bearer realm="https://accounts.google.com/", error="invalid_token"';
    }
    return send(response, status, googleError(status, body.message, body.status, body.reason), headers);
  };

  const notFound = (response: ServerResponse): number => send(response, 404, googleError(404, 'Requested entity was not found.', 'NOT_FOUND', 'notFound'));

  const badRequest = (response: ServerResponse, message: string): number => send(response, 400, googleError(400, message, 'INVALID_ARGUMENT', 'invalidArgument'));

  const messageResource = (message: StoredMessage, format: string): Record<string, unknown> => {
    const resource: Record<string, unknown> = {
      id: message.id,
      threadId: message.threadId,
      labelIds: [...message.labelIds],
      snippet: '',
      sizeEstimate: message.raw.length,
      historyId: String(message.historyId),
      internalDate: String(message.internalDate),
    };
    if (format === 'raw') {
      resource.raw = message.raw.toString('base64url');
    }
    return resource;
  };

  const listMessages = (query: URLSearchParams, response: ServerResponse): number => {
    const labelIds = query.getAll('labelIds');
    const unknownLabel = labelIds.find((label) => !knownLabels.has(label));
    if (unknownLabel !== undefined) {
      return badRequest(response, `Invalid label: ${unknownLabel}`);
    }
    const includeSpamTrash = query.get('includeSpamTrash') === 'true';
    const pageSize = Math.min(Number(query.get('maxResults') ?? defaultPageSize), maxPageSize);
    const pageToken = query.get('pageToken');
    const [tokenGeneration, before] = pageToken === null ? [pageTokenGeneration, null] : decodeToken(pageToken).split(':');
    if (Number(tokenGeneration) !== pageTokenGeneration || before === '') {
      return badRequest(response, 'Invalid pageToken');
    }

    // Of Gmail's search operators only rfc822msgid: is understood.
    const wantedMessageId = /^rfc822msgid:<?([^\s>]+)>?$/.exec(query.get('q') ?? '')?.[1] ?? null;
    const matching = [...messages.values()]
      .filter((message) => labelIds.every((label) => message.labelIds.has(label)))
      .filter((message) => wantedMessageId === null || messageIdOf(message.raw) === wantedMessageId)
      .filter((message) => includeSpamTrash || (!message.labelIds.has('TRASH') && !message.labelIds.has('SPAM')))
      .sort((a, b) => (a.id < b.id ? 1 : -1));
    const remaining = before === null ? matching : matching.filter((message) => message.id < before);
    const page = remaining.slice(0, pageSize);

    const body: Record<string, unknown> = { resultSizeEstimate: remaining.length };
    if (page.length > 0) {
      body.messages = page.map((message) => ({ id: message.id, threadId: message.threadId }));
    }
    const last = page[page.length - 1];
    if (remaining.length > page.length && last !== undefined) {
      body.nextPageToken = encodeToken(`${pageTokenGeneration}:${last.id}`);
    }
    return send(response, 200, JSON.stringify(body));
  };

  const listHistory = (query: URLSearchParams, response: ServerResponse): number => {
    const start = query.get('startHistoryId');
    if (start === null || !/^\d+$/.test(start)) {
      return badRequest(response, 'Invalid startHistoryId');
    }
    if (Number(start) < oldestHistoryId) {
      return notFound(response);
    }
    const types = query.getAll('historyTypes');
    const labelId = query.get('labelId');
    const pageSize = Math.min(Number(query.get('maxResults') ?? defaultPageSize), maxPageSize);
    const offset = query.get('pageToken') === null ? 0 : Number(decodeToken(query.get('pageToken') ?? ''));

    const matching = history
      .filter((record) => record.id > Number(start))
      .filter((record) => types.length === 0 || types.includes(record.type))
      .filter((record) => labelId === null || record.labelIds.includes(labelId) || record.addedLabelIds.includes(labelId));
    const page = matching.slice(offset, offset + pageSize);

    const body: Record<string, unknown> = { historyId: String(currentHistoryId) };
    if (page.length > 0) {
      body.history = page.map((record) => {
        const ref = { id: record.messageId, threadId: record.messageId };
        const entry: Record<string, unknown> = { id: String(record.id), messages: [ref] };
        if (record.type === 'messageAdded') {
          entry.messagesAdded = [{ message: { ...ref, labelIds: record.labelIds } }];
        } else {
          entry.labelsAdded = [{ message: { ...ref, labelIds: record.labelIds }, labelIds: record.addedLabelIds }];
        }
        return entry;
      });
    }
    if (offset + pageSize < matching.length) {
      body.nextPageToken = encodeToken(String(offset + pageSize));
    }
    return send(response, 200, JSON.stringify(body));
  };

  const sendMessage = async (request: IncomingMessage, response: ServerResponse): Promise<number> => {
    let parsed: unknown;
    try {
      parsed = JSON.parse((await readBody(request)).toString('utf8'));
    } catch {
      return badRequest(response, 'Invalid JSON payload received.');
    }
    const rawField = typeof parsed === 'object' && parsed !== null && 'raw' in parsed ? (parsed as { raw: unknown }).raw : undefined;
    if (typeof rawField !== 'string' || rawField === '' || !/^[A-Za-z0-9_-]+=*$/.test(rawField)) {
      return badRequest(response, "'raw' RFC822 payload message string or uploading message via /upload/* URL required");
    }
    const raw = Buffer.from(rawField, 'base64url');
    if (!/^(to|cc|bcc):/im.test(raw.subarray(0, raw.indexOf('\r\n\r\n') === -1 ? raw.length : raw.indexOf('\r\n\r\n')).toString('latin1'))) {
      return badRequest(response, 'Recipient address required');
    }
    const id = store(raw, ['SENT']);
    sent.push({ id, raw });
    return send(response, 200, JSON.stringify({ id, threadId: id, labelIds: ['SENT'] }));
  };

  const route = async (request: IncomingMessage, response: ServerResponse, url: URL): Promise<number> => {
    const next = forced.shift();
    if (next?.status === stalled) {
      return stalled;
    }
    if (next !== undefined) {
      return fail(response, next.status, next.retryAfter);
    }

    const authorization = request.headers.authorization ?? '';
    const token = authorization.startsWith('Bearer ') ? authorization.slice('Bearer '.length) : '';
    if (token === '' || (requiredToken !== null && token !== requiredToken)) {
      return fail(response, 401);
    }

    const match = /^\/gmail\/v1\/users\/([^/]+)\/(.*)$/.exec(url.pathname);
    if (match === null) {
      return notFound(response);
    }
    const userId = decodeURIComponent(match[1] ?? '');
    if (userId !== 'me' && userId.toLowerCase() !== emailAddress.toLowerCase()) {
      return send(response, 403, googleError(403, 'Delegation denied for ' + emailAddress, 'PERMISSION_DENIED', 'forbidden'));
    }
    const rest = match[2] ?? '';
    const method = request.method ?? 'GET';

    if (method === 'GET' && rest === 'profile') {
      return send(response, 200, JSON.stringify({ emailAddress, messagesTotal: messages.size, threadsTotal: messages.size, historyId: String(currentHistoryId) }));
    }
    if (method === 'GET' && rest === 'messages') {
      return listMessages(url.searchParams, response);
    }
    if (method === 'GET' && rest === 'history') {
      return listHistory(url.searchParams, response);
    }
    if (method === 'POST' && rest === 'messages/send') {
      return sendMessage(request, response);
    }

    const single = /^messages\/([0-9a-f]+)(\/trash)?$/.exec(rest);
    const message = single === null ? undefined : messages.get(single[1] ?? '');
    if (single !== null && message === undefined) {
      return notFound(response);
    }
    if (message !== undefined && method === 'GET' && single?.[2] === undefined) {
      return send(response, 200, JSON.stringify(messageResource(message, url.searchParams.get('format') ?? 'full')));
    }
    if (message !== undefined && method === 'POST' && single?.[2] === '/trash') {
      message.labelIds.delete('INBOX');
      message.labelIds.add('TRASH');
      currentHistoryId += 1;
      trashed.push(message.id);
      return send(response, 200, JSON.stringify(messageResource(message, 'minimal')));
    }
    return notFound(response);
  };

  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    route(request, response, url).then(
      (status) => requests.push({ method: request.method ?? 'GET', path: url.pathname, query: url.searchParams, status }),
      (error: unknown) => {
        response.writeHead(500);
        response.end(String(error));
      },
    );
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    rootUrl: `http://127.0.0.1:${port}/`,
    emailAddress,
    addMessage: (raw, labelIds = ['INBOX']) => store(raw, labelIds),
    addLabels(id, labelIds) {
      const message = messages.get(id);
      if (message === undefined) {
        throw new Error(`fake Gmail has no message ${id}`);
      }
      for (const label of labelIds) {
        message.labelIds.add(label);
        knownLabels.add(label);
      }
      currentHistoryId += 1;
      history.push({ id: currentHistoryId, messageId: id, type: 'labelAdded', labelIds: [...message.labelIds], addedLabelIds: [...labelIds] });
    },
    expirePageTokens() {
      pageTokenGeneration += 1;
    },
    expireHistory() {
      currentHistoryId += 1;
      oldestHistoryId = currentHistoryId;
    },
    failNext(count, status, retryAfter) {
      for (let i = 0; i < count; i += 1) {
        forced.push(retryAfter === undefined ? { status } : { status, retryAfter });
      }
    },
    stallNext(count) {
      for (let i = 0; i < count; i += 1) {
        forced.push({ status: stalled });
      }
    },
    requireToken(token) {
      requiredToken = token;
    },
    sent,
    trashed,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

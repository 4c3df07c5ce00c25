import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the Microsoft Graph v1.0 mail endpoints, on 127.0.0.1 with a random
 * port, for one mailbox reachable as `/me` and as `/users/{principal}`.
 *
 * Shapes follow Microsoft's published documentation:
 * - delta rounds, `@odata.nextLink` / `@odata.deltaLink`, `$skiptoken` / `$deltatoken`,
 *   `@removed`, `Prefer: odata.maxpagesize` (default page of 10):
 *   https://learn.microsoft.com/graph/delta-query-messages and https://learn.microsoft.com/graph/api/message-delta
 * - an expired sync state rejected with 410 and code SyncStateNotFound: https://learn.microsoft.com/graph/delta-query-overview
 * - raw MIME download `GET /messages/{id}/$value`: https://learn.microsoft.com/graph/outlook-get-mime-message
 * - `DELETE /messages/{id}` moving to Deleted Items: https://learn.microsoft.com/graph/api/message-delete
 * - MIME send `POST /sendMail` with `Content-Type: text/plain` and a base64 body, 202 Accepted:
 *   https://learn.microsoft.com/graph/outlook-send-mime-message and https://learn.microsoft.com/graph/api/user-sendmail
 * - error bodies `{ error: { code, message } }`, 401, 429 with Retry-After, 503:
 *   https://learn.microsoft.com/graph/errors and https://learn.microsoft.com/graph/throttling
 */
export interface FakeGraph {
  /** Base URL to give the adapter as `apiBaseUrl` (ends in /v1.0). */
  readonly baseUrl: string;
  /** The mailbox's user principal name. */
  readonly principal: string;
  /** Adds a received message to a folder (default inbox). Returns its immutable id. */
  addMessage(raw: Buffer, folder?: string): string;
  /** Moves a message to another folder, as a user filing it would. */
  moveMessage(id: string, folder: string): void;
  /** Invalidates every delta and next link issued so far; later use returns `status` (default 410) with `code`. */
  expireDeltaLinks(options?: { status?: number; code?: string }): void;
  /** Makes the next `count` requests fail with `status`, with Retry-After when given. */
  failNext(count: number, status: number, retryAfter?: string): void;
  /** Leaves the next `count` requests without a response until the fake closes, to provoke client timeouts. */
  stallNext(count: number): void;
  /** Accepts only this bearer token (null: any non-empty token). */
  requireToken(token: string | null): void;
  /** `application` tokens (client credentials) cannot use `/me`, as in Graph. */
  setTokenKind(kind: 'delegated' | 'application'): void;
  /** Addresses besides the principal that the mailbox may send as. */
  allowSendAs(address: string): void;
  /** Messages received by sendMail, decoded. */
  readonly sent: Buffer[];
  /** Every request, in order, with its Prefer header and without its Authorization value. */
  readonly requests: Array<{ method: string; path: string; query: URLSearchParams; prefer: string; status: number }>;
  close(): Promise<void>;
}

interface StoredMessage {
  id: string;
  raw: Buffer;
  folder: string;
  receivedDateTime: string;
  internetMessageId: string;
}

interface Change {
  seq: number;
  id: string;
  folder: string;
}

/** A delta round in progress: the entries still to page through, and the change sequence the round ends at. */
interface Round {
  generation: number;
  folder: string;
  pending: Array<{ id: string; removed: boolean }>;
  endSeq: number;
}

const defaultPageSize = 10;

function graphError(code: string, message: string): string {
  return JSON.stringify({ error: { code, message, innerError: { date: new Date().toISOString(), 'request-id': '00000000-0000-0000-0000-000000000000' } } });
}

const failureBodies: Record<number, { code: string; message: string }> = {
  401: { code: 'InvalidAuthenticationToken', message: 'Access token has expired or is not yet valid.' },
  429: { code: 'TooManyRequests', message: 'Application is over its MailboxConcurrency limit.' },
  500: { code: 'generalException', message: 'General exception while processing.' },
  503: { code: 'ServiceUnavailable', message: 'Service Unavailable' },
};

/** Marks a forced failure that sends no response at all, recorded as status 0. */
const stalled = 0;

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function headerValue(raw: Buffer, name: string): string {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end === -1 ? raw.length : end).toString('latin1').replace(/\r\n[ \t]+/g, ' ');
  const match = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(head);
  return match?.[1]?.trim() ?? '';
}

/** Joins the Prefer header values of a request into one list. */
function preferOf(request: IncomingMessage): string {
  const value = request.headers.prefer ?? '';
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Starts the fake on 127.0.0.1 with a random port. */
export async function startFakeGraph(options: { principal?: string } = {}): Promise<FakeGraph> {
  const principal = options.principal ?? 'support@contoso.example';
  const messages = new Map<string, StoredMessage>();
  const changes: Change[] = [];
  const rounds = new Map<string, Round>();
  const forced: Array<{ status: number; retryAfter?: string }> = [];
  const sendAs = new Set([principal.toLowerCase()]);
  const sent: Buffer[] = [];
  const requests: FakeGraph['requests'] = [];
  let seq = 0;
  let generation = 1;
  let expiry = { status: 410, code: 'SyncStateNotFound' };
  let nextNumber = 1;
  let nextToken = 1;
  let requiredToken: string | null = null;
  let tokenKind: 'delegated' | 'application' = 'delegated';
  let baseUrl = '';

  // Immutable ids are long base64 strings; the padding and the plus sign check URL encoding.
  const newId = (): string => `AAkALgAAAAAAHYQDEapmEc2byACqAC+EWg0A${String(nextNumber++).padStart(6, '0')}AAA=`;

  const record = (id: string, folder: string): void => {
    seq += 1;
    changes.push({ seq, id, folder });
  };

  const send = (response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): number => {
    response.writeHead(status, body === '' ? headers : { 'Content-Type': 'application/json', ...headers });
    response.end(body);
    return status;
  };

  const fail = (response: ServerResponse, status: number, retryAfter?: string): number => {
    const body = failureBodies[status] ?? { code: 'UnknownError', message: `Fake failure ${status}` };
    const headers: Record<string, string> = {};
    if (retryAfter !== undefined) {
      headers['Retry-After'] = retryAfter;
    }
    if (status === 401) {
      headers['WWW-Authenticate'] = 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"';
    }
    return send(response, status, graphError(body.code, body.message), headers);
  };

  const itemNotFound = (response: ServerResponse): number => send(response, 404, graphError('ErrorItemNotFound', 'The specified object was not found in the store.'));

  /** Serves the next page of a round, storing the rest under a new skip token or ending with a delta token. */
  const servePage = (response: ServerResponse, mailboxPath: string, round: Round, pageSize: number): number => {
    const page = round.pending.slice(0, pageSize);
    const rest = round.pending.slice(pageSize);
    const token = `fake${nextToken++}`;
    const folderUrl = `${baseUrl}/${mailboxPath}/mailFolders/${round.folder}/messages/delta`;

    const body: Record<string, unknown> = {
      '@odata.context': `${baseUrl}/$metadata#Collection(message)`,
      value: page.map((entry) => {
        const message = messages.get(entry.id);
        if (entry.removed || message === undefined) {
          return { '@odata.type': '#microsoft.graph.message', id: entry.id, '@removed': { reason: 'deleted' } };
        }
        return {
          '@odata.type': '#microsoft.graph.message',
          '@odata.etag': `W/"CQAAABYAAAB${message.id.slice(-9, -4)}"`,
          id: message.id,
          internetMessageId: message.internetMessageId,
          receivedDateTime: message.receivedDateTime,
        };
      }),
    };
    if (rest.length > 0) {
      rounds.set(token, { ...round, pending: rest });
      body['@odata.nextLink'] = `${folderUrl}?$skiptoken=${token}`;
    } else {
      rounds.set(token, { generation: round.generation, folder: round.folder, pending: [], endSeq: round.endSeq });
      body['@odata.deltaLink'] = `${folderUrl}?$deltatoken=${token}`;
    }
    return send(response, 200, JSON.stringify(body), { 'Preference-Applied': `odata.maxpagesize=${pageSize}` });
  };

  const delta = (request: IncomingMessage, response: ServerResponse, url: URL, mailboxPath: string, folder: string): number => {
    const prefer = preferOf(request);
    const sizeMatch = /odata\.maxpagesize=(\d+)/.exec(prefer);
    const pageSize = sizeMatch === null ? defaultPageSize : Number(sizeMatch[1]);
    const skipToken = url.searchParams.get('$skiptoken');
    const deltaToken = url.searchParams.get('$deltatoken');

    if (skipToken === null && deltaToken === null) {
      const pending = [...messages.values()].filter((message) => message.folder === folder).map((message) => ({ id: message.id, removed: false }));
      return servePage(response, mailboxPath, { generation, folder, pending, endSeq: seq }, pageSize);
    }

    const round = rounds.get(skipToken ?? deltaToken ?? '');
    if (round === undefined || round.generation !== generation) {
      return send(response, expiry.status, graphError(expiry.code, 'The sync state generation is not found. The delta token is expired and data must be synchronized again.'));
    }
    if (skipToken !== null) {
      return servePage(response, mailboxPath, round, pageSize);
    }

    // A delta token: every message whose folder changed since the round ended, each once, latest state.
    const touched = [...new Set(changes.filter((change) => change.seq > round.endSeq).map((change) => change.id))];
    const relevant = touched.filter((id) => changes.some((change) => change.seq > round.endSeq && change.id === id && change.folder === folder) || messages.get(id)?.folder === folder);
    const pending = relevant.map((id) => ({ id, removed: messages.get(id)?.folder !== folder }));
    return servePage(response, mailboxPath, { generation, folder, pending, endSeq: seq }, pageSize);
  };

  /** Lists a folder; of OData filters only `internetMessageId eq '<...>'` is understood. */
  const listFolder = (response: ServerResponse, folder: string, filter: string | null): number => {
    const wanted = filter === null ? null : /^internetMessageId eq '(.*)'$/.exec(filter)?.[1]?.replace(/''/g, "'");
    if (wanted === undefined) {
      return send(response, 400, graphError('BadRequest', `Invalid filter clause: ${filter ?? ''}`));
    }
    const found = [...messages.values()].filter((message) => message.folder === folder && (wanted === null || message.internetMessageId === wanted));
    return send(response, 200, JSON.stringify({ '@odata.context': `${baseUrl}/$metadata#Collection(message)`, value: found.map((message) => ({ id: message.id })) }));
  };

  const sendMail = async (request: IncomingMessage, response: ServerResponse): Promise<number> => {
    const contentType = request.headers['content-type'] ?? '';
    const body = (await readBody(request)).toString('latin1');
    if (!contentType.startsWith('text/plain')) {
      return send(response, 400, graphError('ErrorInvalidRequest', 'This fake accepts only the MIME form of sendMail (Content-Type: text/plain).'));
    }
    if (body === '' || !/^[A-Za-z0-9+/=\r\n]+$/.test(body)) {
      return send(response, 400, graphError('ErrorMimeContentInvalidBase64String', 'Invalid base64 string for MIME content.'));
    }
    const raw = Buffer.from(body, 'base64');
    if (headerValue(raw, 'to') === '' && headerValue(raw, 'cc') === '' && headerValue(raw, 'bcc') === '') {
      return send(response, 400, graphError('ErrorInvalidRecipients', "At least one recipient isn't valid."));
    }
    const from = /<([^>]+)>/.exec(headerValue(raw, 'from'))?.[1] ?? headerValue(raw, 'from');
    if (!sendAs.has(from.toLowerCase())) {
      return send(response, 403, graphError('ErrorSendAsDenied', 'The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account.'));
    }
    sent.push(raw);
    const id = newId();
    messages.set(id, { id, raw, folder: 'sentitems', receivedDateTime: new Date().toISOString(), internetMessageId: headerValue(raw, 'message-id') });
    record(id, 'sentitems');
    return send(response, 202, '');
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

    const match = /^\/v1\.0\/(me|users\/([^/]+))\/(.*)$/.exec(url.pathname);
    if (match === null) {
      return send(response, 400, graphError('BadRequest', `Resource not found for the segment '${url.pathname}'.`));
    }
    const mailboxPath = match[1] ?? '';
    if (mailboxPath === 'me' && tokenKind === 'application') {
      return send(response, 400, graphError('BadRequest', '/me request is only valid with delegated authentication flow.'));
    }
    const user = match[2] === undefined ? null : decodeURIComponent(match[2]);
    if (user !== null && user.toLowerCase() !== principal.toLowerCase()) {
      return send(response, 404, graphError('ErrorInvalidUser', `The requested user '${user}' is invalid.`));
    }
    const rest = match[3] ?? '';
    const method = request.method ?? 'GET';

    const deltaPath = /^mailFolders\/([^/]+)\/messages\/delta$/.exec(rest);
    if (method === 'GET' && deltaPath !== null) {
      return delta(request, response, url, mailboxPath, decodeURIComponent(deltaPath[1] ?? '').toLowerCase());
    }
    const folderList = /^mailFolders\/([^/]+)\/messages$/.exec(rest);
    if (method === 'GET' && folderList !== null) {
      return listFolder(response, decodeURIComponent(folderList[1] ?? '').toLowerCase(), url.searchParams.get('$filter'));
    }
    if (method === 'POST' && rest === 'sendMail') {
      return sendMail(request, response);
    }

    const single = /^messages\/([^/]+)(\/\$value)?$/.exec(rest);
    if (single === null) {
      return send(response, 400, graphError('BadRequest', `Resource not found for the segment '${rest}'.`));
    }
    const message = messages.get(decodeURIComponent(single[1] ?? ''));
    if (message === undefined || (message.folder === 'deleteditems' && method === 'DELETE')) {
      return itemNotFound(response);
    }
    if (method === 'GET' && single[2] !== undefined) {
      response.writeHead(200, { 'Content-Type': 'text/plain' });
      response.end(message.raw);
      return 200;
    }
    if (method === 'DELETE' && single[2] === undefined) {
      record(message.id, message.folder);
      message.folder = 'deleteditems';
      record(message.id, 'deleteditems');
      return send(response, 204, '');
    }
    return send(response, 405, graphError('ErrorInvalidRequest', 'The OData request is not supported.'));
  };

  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    route(request, response, url).then(
      (status) => requests.push({ method: request.method ?? 'GET', path: url.pathname, query: url.searchParams, prefer: preferOf(request), status }),
      (error: unknown) => {
        response.writeHead(500);
        response.end(String(error));
      },
    );
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://127.0.0.1:${port}/v1.0`;

  return {
    baseUrl,
    principal,
    addMessage(raw, folder = 'inbox') {
      const id = newId();
      messages.set(id, { id, raw, folder, receivedDateTime: new Date().toISOString(), internetMessageId: headerValue(raw, 'message-id') });
      record(id, folder);
      return id;
    },
    moveMessage(id, folder) {
      const message = messages.get(id);
      if (message === undefined) {
        throw new Error(`fake Graph has no message ${id}`);
      }
      const from = message.folder;
      message.folder = folder;
      record(id, from);
      record(id, folder);
    },
    expireDeltaLinks(options = {}) {
      generation += 1;
      expiry = { status: options.status ?? 410, code: options.code ?? 'SyncStateNotFound' };
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
    setTokenKind(kind) {
      tokenKind = kind;
    },
    allowSendAs(address) {
      sendAs.add(address.toLowerCase());
    },
    sent,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

import type { Logger } from 'pino';

import { FailureType, MailqueueError } from '../errors.js';
import { childLogger } from '../logger.js';
import type { AccessTokenProvider } from './access-token.js';
import { callWithRetries, parseRetryAfter, type ApiFailureFactory, type ApiOutcome, type ApiRetryOptions } from './api-calls.js';
import type { DownloadedSourceMessage, MailSource, SourceCursor, SourceListing, SourceMessageRef } from './mail-source.js';
import { checkEnvelopeAgainstHeaders, deliveredToAddresses } from './mime-headers.js';
import type { OutgoingSendResult, OutgoingTransport } from './outgoing-transport.js';
import { searchableMessageId, type SentMailLookup } from './sent-lookup.js';

/** Microsoft Graph v1.0 in the global cloud; national clouds have their own hosts. */
export const defaultGraphApiBaseUrl = 'https://graph.microsoft.com/v1.0';

const defaultTimeoutMs = 60_000;

/** Maximum length of an API error text quoted in our error messages. */
const maxQuotedLength = 200;

/** Prefix of a Graph source key; the rest is the immutable message id. */
const keyPrefix = 'graph:';

/** Graph error codes meaning a delta or next link can no longer be used, compared in lowercase. */
const resyncCodes = new Set(['syncstatenotfound', 'syncstateinvalid', 'resyncrequired']);

/**
 * `Prefer` value that makes Graph return immutable ids, which survive moves between folders,
 * so a key does not change when someone files a message.
 */
const immutableIds = 'IdType="ImmutableId"';

interface GraphCommonSettings {
  /** Graph root including the version (default https://graph.microsoft.com/v1.0); tests point it at a local fake. */
  apiBaseUrl?: string;
  /**
   * The mailbox: `me` with a delegated token (sign-in of the mailbox user), or the user
   * principal name or id with an application token of a tenant integration.
   */
  mailbox: string;
  tokens: AccessTokenProvider;
  /** Timeout of one HTTP request including its body, in milliseconds (default 60000). */
  timeoutMs?: number;
  retry?: ApiRetryOptions;
}

export interface GraphSourceSettings extends GraphCommonSettings {
  /** Mail folder: a well-known name such as `inbox` (default) or a folder id. */
  folder?: string;
}

export type GraphTransportSettings = GraphCommonSettings;

/**
 * Position of a Graph source: the `@odata.nextLink` of the page to read next while a delta
 * round is running, or the `@odata.deltaLink` of the finished round. `skip` counts refs of
 * that page already returned when a page was longer than `maxItems`.
 */
interface GraphCursor {
  link: string;
  skip: number;
}

/** Failure types of one adapter side, as for Gmail. */
interface GraphSide {
  what: 'Graph source' | 'Graph transport';
  throttledType: typeof FailureType.ConnectionFailed | typeof FailureType.TemporaryDeliveryFailure;
  rejectedType: typeof FailureType.ProtocolError | typeof FailureType.PermanentDeliveryFailure;
  permission: string;
}

const sourceSide: GraphSide = { what: 'Graph source', throttledType: FailureType.ConnectionFailed, rejectedType: FailureType.ProtocolError, permission: 'Mail.ReadWrite' };
const transportSide: GraphSide = { what: 'Graph transport', throttledType: FailureType.TemporaryDeliveryFailure, rejectedType: FailureType.PermanentDeliveryFailure, permission: 'Mail.Send' };

/** One request: method, URL, optional body and the `odata.maxpagesize` preference. */
interface GraphRequest {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  /** False for `$value`, whose response body is MIME, not JSON (default true). */
  json?: boolean;
  body?: string;
  contentType?: string;
  pageSize?: number;
}

/** Reads Graph's JSON error body `{ error: { code, message } }`; empty strings when the body is not that. */
function graphErrorOf(text: string): { code: string; message: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { code: '', message: '' };
  }
  const body = typeof parsed === 'object' && parsed !== null && 'error' in parsed ? (parsed as { error: unknown }).error : null;
  if (typeof body !== 'object' || body === null) {
    return { code: '', message: '' };
  }
  const fields = body as { code?: unknown; message?: unknown };
  return {
    code: typeof fields.code === 'string' ? fields.code : '',
    message: typeof fields.message === 'string' ? fields.message.slice(0, maxQuotedLength) : '',
  };
}

/** Returns the path segment of the mailbox: `me`, or `users/<principal>`. */
function mailboxPath(mailbox: string): string {
  const trimmed = mailbox.trim();
  if (trimmed === '') {
    throw new MailqueueError(FailureType.InvalidConfiguration, 'Graph mailbox is empty; use "me" with a delegated sign-in, or the user principal name with a tenant integration', {});
  }
  return trimmed.toLowerCase() === 'me' ? 'me' : `users/${encodeURIComponent(trimmed)}`;
}

function checkMaxItems(maxItems: number): number {
  if (!Number.isInteger(maxItems) || maxItems < 1) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `maxItems must be a positive integer, got ${String(maxItems)}`, { maxItems });
  }
  return maxItems;
}

function messageIdOfKey(key: string): string | null {
  return key.startsWith(keyPrefix) && key.length > keyPrefix.length ? key.slice(keyPrefix.length) : null;
}

/** Network failure codes of Node's fetch (undici), found on the error's cause. */
function networkCodeOf(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') {
    return 'TimeoutError';
  }
  const cause = error instanceof Error ? error.cause : undefined;
  if (typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string') {
    return cause.code;
  }
  return error instanceof Error ? error.name : 'unknown';
}

/** Shared plumbing of the Graph source and transport: URLs, the token header, error translation. */
class GraphApi {
  readonly baseUrl: string;
  readonly mailboxUrl: string;
  readonly mailbox: string;
  private readonly tokens: AccessTokenProvider;
  private readonly timeoutMs: number;
  private readonly retry: ApiRetryOptions;
  private readonly failures: ApiFailureFactory;

  constructor(
    settings: GraphCommonSettings,
    private readonly side: GraphSide,
    private readonly log: Logger,
  ) {
    this.baseUrl = (settings.apiBaseUrl ?? defaultGraphApiBaseUrl).replace(/\/+$/, '');
    this.mailbox = settings.mailbox;
    this.mailboxUrl = `${this.baseUrl}/${mailboxPath(settings.mailbox)}`;
    this.tokens = settings.tokens;
    this.timeoutMs = settings.timeoutMs ?? defaultTimeoutMs;
    this.retry = settings.retry ?? {};
    this.failures = {
      unauthorized: (status, code) =>
        new MailqueueError(FailureType.AuthenticationFailed, `${side.what}: Microsoft rejected the access token (${status} ${code}) also after a refresh; reconnect the mailbox`, { status, code, mailbox: this.mailbox }),
      throttled: (status, code, retryAfterMs) =>
        new MailqueueError(side.throttledType, `${side.what}: Graph returned ${status} ${code} repeatedly; retry later`, { status, code, retryAfterMs, mailbox: this.mailbox }),
    };
  }

  /** True when `link` points into this API, so the bearer token may be sent there. */
  owns(link: string): boolean {
    return link.startsWith(`${this.baseUrl}/`);
  }

  /**
   * Runs one Graph request with the bearer token and the retry rules of `callWithRetries`.
   * `read` turns a 2xx response into the result. `special` may claim a failure status and
   * Graph error code before the general translation (a 404 that means "gone", a 410).
   */
  async call<T>(operation: string, request: GraphRequest, read: (response: Response) => Promise<T>, special?: (status: number, code: string) => ApiOutcome<T> | null): Promise<T> {
    return callWithRetries(
      this.tokens,
      async (accessToken) => {
        const prefer = request.pageSize === undefined ? immutableIds : `odata.maxpagesize=${request.pageSize}, ${immutableIds}`;
        const headers: Record<string, string> = { Authorization: `Bearer ${accessToken}`, Prefer: prefer };
        if (request.json !== false) {
          headers.Accept = 'application/json';
        }
        if (request.contentType !== undefined) {
          headers['Content-Type'] = request.contentType;
        }

        let response: Response;
        try {
          // Redirects are not followed, so the token is never sent to another host.
          response = await fetch(request.url, { method: request.method, headers, body: request.body, redirect: 'manual', signal: AbortSignal.timeout(this.timeoutMs) });
          if (response.ok) {
            return { kind: 'ok', value: await read(response) };
          }
        } catch (error) {
          if (error instanceof MailqueueError) {
            return { kind: 'failed', error };
          }
          const code = networkCodeOf(error);
          const type = code === 'TimeoutError' ? FailureType.Timeout : FailureType.ConnectionFailed;
          return { kind: 'failed', error: new MailqueueError(type, `${this.side.what}: ${operation} could not reach Microsoft Graph (${code})`, { operation, code, mailbox: this.mailbox }) };
        }

        const graph = graphErrorOf(await response.text().catch(() => ''));
        return special?.(response.status, graph.code) ?? this.translate(operation, response, graph);
      },
      this.failures,
      this.retry,
      this.log,
      { operation, mailbox: this.mailbox },
    );
  }

  private translate(operation: string, response: Response, graph: { code: string; message: string }): ApiOutcome<never> {
    const { status } = response;
    const code = graph.code || String(status);
    const details = { operation, status, code, mailbox: this.mailbox };

    if (status === 401) {
      return { kind: 'unauthorized', status, code };
    }
    if (status === 429 || status >= 500) {
      return { kind: 'throttled', status, code, retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), Date.now()) };
    }
    if (status === 403 && code !== 'ErrorSendAsDenied') {
      return {
        kind: 'failed',
        error: new MailqueueError(FailureType.AuthenticationFailed, `${this.side.what}: Microsoft denied ${operation} for mailbox ${this.mailbox} (${code}: ${graph.message}); grant ${this.side.permission} to the app (for a tenant integration, admin consent and access to this mailbox) and reconnect`, details),
      };
    }
    if (status === 404 && operation === 'messages delta') {
      return { kind: 'failed', error: new MailqueueError(FailureType.FolderNotFound, `${this.side.what}: mailbox ${this.mailbox} or its folder was not found (${code}: ${graph.message}); check the mailbox address and folder`, details) };
    }
    return { kind: 'failed', error: new MailqueueError(this.side.rejectedType, `${this.side.what}: Graph rejected ${operation} with ${status} ${code}: ${graph.message}`, details) };
  }
}

/** The JSON of one delta page; only the fields the source reads. */
interface DeltaPage {
  value?: Array<{ id?: unknown; '@removed'?: unknown }>;
  '@odata.nextLink'?: unknown;
  '@odata.deltaLink'?: unknown;
}

type DeltaResult = { kind: 'page'; page: DeltaPage } | { kind: 'expired'; status: number; code: string };

class GraphSource implements MailSource {
  readonly protocol = 'graph';
  private readonly initialLink: string;

  constructor(
    private readonly api: GraphApi,
    private readonly folder: string,
    private readonly log: Logger,
  ) {
    this.initialLink = `${api.mailboxUrl}/mailFolders/${encodeURIComponent(folder)}/messages/delta?$select=id,internetMessageId,receivedDateTime`;
  }

  async listNew(cursor: SourceCursor | null, maxItems: number): Promise<SourceListing> {
    const pageSize = checkMaxItems(maxItems);
    const stored = this.readCursor(cursor);
    if (stored === null && cursor !== null) {
      this.log.warn({ mailbox: this.api.mailbox, folder: this.folder }, 'stored Graph cursor unusable, starting a new delta round');
    }

    const current = stored ?? { link: this.initialLink, skip: 0 };
    const result = await this.fetchDelta(current.link, pageSize);
    if (result.kind === 'page') {
      return { ...this.sliceListing(result.page, current, pageSize), resynced: cursor !== null && stored === null };
    }

    if (stored === null) {
      throw new MailqueueError(FailureType.ProtocolError, `Graph source: a new delta round of ${this.api.mailbox} failed with ${result.status} ${result.code}`, { mailbox: this.api.mailbox, status: result.status, code: result.code });
    }
    this.log.warn({ mailbox: this.api.mailbox, folder: this.folder, status: result.status, code: result.code }, 'Graph delta link expired, resyncing the folder');
    const fresh = await this.fetchDelta(this.initialLink, pageSize);
    if (fresh.kind === 'expired') {
      throw new MailqueueError(FailureType.ProtocolError, `Graph source: a new delta round of ${this.api.mailbox} failed with ${fresh.status} ${fresh.code}`, { mailbox: this.api.mailbox, status: fresh.status, code: fresh.code });
    }
    return { ...this.sliceListing(fresh.page, { link: this.initialLink, skip: 0 }, pageSize), resynced: true };
  }

  /** Reads a stored cursor; null when it is not a Graph cursor of this API (then a new delta round starts). */
  private readCursor(cursor: SourceCursor | null): GraphCursor | null {
    if (cursor === null) {
      return null;
    }
    const { link, skip } = cursor;
    if (typeof link !== 'string' || !this.api.owns(link)) {
      return null;
    }
    if (typeof skip !== 'number' || !Number.isInteger(skip) || skip < 0) {
      return null;
    }
    return { link, skip };
  }

  private async fetchDelta(link: string, pageSize: number): Promise<DeltaResult> {
    return this.api.call<DeltaResult>(
      'messages delta',
      { method: 'GET', url: link, pageSize },
      async (response) => ({ kind: 'page', page: (await response.json()) as DeltaPage }),
      (status, code) => (status === 410 || resyncCodes.has(code.toLowerCase()) ? { kind: 'ok', value: { kind: 'expired', status, code } } : null),
    );
  }

  /** Turns one delta page into a listing of at most `pageSize` refs, skipping `@removed` entries. */
  private sliceListing(page: DeltaPage, current: GraphCursor, pageSize: number): Omit<SourceListing, 'resynced'> {
    const ids = [
      ...new Set((page.value ?? []).filter((entry) => entry['@removed'] === undefined).flatMap((entry) => (typeof entry.id === 'string' && entry.id !== '' ? [entry.id] : []))),
    ];

    const nextLink = page['@odata.nextLink'];
    const deltaLink = page['@odata.deltaLink'];
    let following: string | null = null;
    if (typeof nextLink === 'string') {
      following = nextLink;
    } else if (typeof deltaLink === 'string') {
      following = deltaLink;
    }
    if (following === null) {
      throw new MailqueueError(FailureType.ProtocolError, 'Graph source: a delta page came with neither @odata.nextLink nor @odata.deltaLink', { mailbox: this.api.mailbox });
    }
    if (!this.api.owns(following)) {
      throw new MailqueueError(FailureType.ProtocolError, `Graph source: the next delta link leaves ${this.api.baseUrl}; the token is not sent there`, { mailbox: this.api.mailbox });
    }

    const end = current.skip + pageSize;
    const refs = ids.slice(current.skip, end).map((id) => ({ key: `${keyPrefix}${id}`, size: null }));
    if (end < ids.length) {
      return { refs, cursorAfter: { link: current.link, skip: end }, more: true };
    }
    return { refs, cursorAfter: { link: following, skip: 0 }, more: typeof nextLink === 'string' };
  }

  async download(ref: SourceMessageRef): Promise<DownloadedSourceMessage | null> {
    const id = messageIdOfKey(ref.key);
    if (id === null) {
      throw new MailqueueError(FailureType.ProtocolError, `Graph source: ${ref.key} is not a Graph key (expected graph:<message id>)`, { key: ref.key });
    }

    const raw = await this.api.call<Buffer | null>(
      'message $value',
      { method: 'GET', url: `${this.api.mailboxUrl}/messages/${encodeURIComponent(id)}/$value`, json: false },
      async (response) => Buffer.from(await response.arrayBuffer()),
      (status) => (status === 404 ? { kind: 'ok', value: null } : null),
    );
    if (raw === null) {
      this.log.info({ mailbox: this.api.mailbox, key: ref.key }, 'Graph message vanished before download');
      return null;
    }
    return { key: ref.key, raw, deliveredTo: deliveredToAddresses(raw) };
  }

  /** Deletes each message; Exchange moves a deleted message to Deleted Items, where it stays recoverable. */
  async remove(keys: string[]): Promise<void> {
    for (const key of keys) {
      const id = messageIdOfKey(key);
      if (id === null) {
        continue;
      }
      const deleted = await this.api.call<boolean>(
        'delete message',
        { method: 'DELETE', url: `${this.api.mailboxUrl}/messages/${encodeURIComponent(id)}` },
        async () => true,
        (status) => (status === 404 ? { kind: 'ok', value: false } : null),
      );
      this.log.info({ mailbox: this.api.mailbox, key, deleted }, deleted ? 'Graph message deleted' : 'Graph message to delete was already gone');
    }
  }

  /** Nothing to end: every call is a single HTTP request. */
  async close(): Promise<void> {}
}

/**
 * Creates a MailSource over Microsoft Graph delta queries on one mail folder (default inbox).
 *
 * The first listing starts a delta round and follows `@odata.nextLink` page by page. The
 * `@odata.deltaLink` that ends the round is the cursor of the next sync. A 410 or a
 * syncStateNotFound / resyncRequired error starts a new round with `resynced: true`. Keys are
 * `graph:<immutable id>`, so storage skips messages listed again. `@removed` entries are skipped.
 * `mailbox` is `me` (delegated) or a user principal (tenant integration). A 401 invalidates
 * the token and retries once, and 429 and 5xx wait for Retry-After within bounds, then throw
 * ConnectionFailed. `remove` deletes, which moves the message to Deleted Items.
 */
export function createGraphSource(settings: GraphSourceSettings, log: Logger = childLogger({ component: 'graph' })): MailSource {
  const folder = settings.folder ?? 'inbox';
  if (folder.trim() === '') {
    throw new MailqueueError(FailureType.InvalidConfiguration, 'Graph folder is empty; use a well-known folder name such as inbox or a folder id', {});
  }
  return new GraphSource(new GraphApi(settings, sourceSide, log), folder, log);
}

/**
 * Creates an OutgoingTransport over Graph's `sendMail` in MIME form: the body is the base64 of
 * the exact bytes with `Content-Type: text/plain`, so Message-ID, In-Reply-To, References,
 * Reply-To and the From (a send-as address of the mailbox) stay as composed. 202 is success.
 *
 * Graph sends to the To, Cc and Bcc headers only, so an envelope recipient missing there is
 * rejected with PermanentDeliveryFailure. 400 and a refused send-as are
 * PermanentDeliveryFailure; 429 and 5xx are TemporaryDeliveryFailure after bounded waits; a
 * 401 retries once with a new token, then AuthenticationFailed. `findSent` looks a Message-ID
 * up in Sent Items, so an interrupted send can be checked.
 */
export function createGraphTransport(settings: GraphTransportSettings, log: Logger = childLogger({ component: 'graph' })): OutgoingTransport & SentMailLookup {
  const api = new GraphApi(settings, transportSide, log);

  return {
    protocol: 'graph',
    async send(envelope: { from: string; to: string[] }, raw: Buffer): Promise<OutgoingSendResult> {
      checkEnvelopeAgainstHeaders('Graph transport', envelope.to, raw);

      // NOTE: Graph limits the size of one request (a few MB, not measured here); larger mail would need a draft with an upload session.
      const status = await api.call('sendMail', { method: 'POST', url: `${api.mailboxUrl}/sendMail`, body: raw.toString('base64'), contentType: 'text/plain' }, async (response) => response.status);

      log.info({ mailbox: api.mailbox, status, recipients: envelope.to.length }, 'message sent through Microsoft Graph');
      return { accepted: [...envelope.to], rejected: [], response: `Graph accepted the message (${status})` };
    },

    /** Filters Sent Items by `internetMessageId`, which Graph keeps with its angle brackets. */
    async findSent(messageId: string): Promise<boolean> {
      const filter = encodeURIComponent(`internetMessageId eq '<${searchableMessageId(messageId)}>'`);
      const url = `${api.mailboxUrl}/mailFolders/sentitems/messages?$filter=${filter}&$select=id&$top=1`;
      const page = await api.call('sent items lookup', { method: 'GET', url }, async (response) => (await response.json()) as { value?: unknown[] });
      return (page.value ?? []).length > 0;
    },
  };
}

// The per-API entry point loads only the Gmail client; `import 'googleapis'` loads every Google API (over a second per process).
import { gmail, type gmail_v1 } from 'googleapis/build/src/apis/gmail/index.js';
import type { MethodOptions } from 'googleapis-common';
import type { Logger } from 'pino';

import { FailureType, MailqueueError } from '../errors.js';
import { childLogger } from '../logger.js';
import type { AccessTokenProvider } from './access-token.js';
import { callWithRetries, parseRetryAfter, type ApiFailureFactory, type ApiOutcome, type ApiRetryOptions } from './api-calls.js';
import type { DownloadedSourceMessage, MailSource, SourceCursor, SourceListing, SourceMessageRef } from './mail-source.js';
import { checkEnvelopeAgainstHeaders, deliveredToAddresses } from './mime-headers.js';
import type { OutgoingSendResult, OutgoingTransport } from './outgoing-transport.js';
import { searchableMessageId, type SentMailLookup } from './sent-lookup.js';

/** Google's production root URL for the Gmail API; the client appends `gmail/v1/...`. */
export const defaultGmailApiBaseUrl = 'https://gmail.googleapis.com/';

const defaultTimeoutMs = 60_000;

/** Gmail's largest `maxResults` for messages.list and history.list. */
const gmailMaxPageSize = 500;

/** Maximum length of an API error text quoted in our error messages. */
const maxQuotedLength = 200;

/** Prefix of a Gmail source key; the rest is the Gmail message id. */
const keyPrefix = 'gmail:';

interface GmailCommonSettings {
  /** Root URL of the API (default https://gmail.googleapis.com/); tests point it at a local fake. */
  apiBaseUrl?: string;
  /** The mailbox: `me` (the token's account, default) or its address. */
  userId?: string;
  tokens: AccessTokenProvider;
  /** Timeout of one HTTP request in milliseconds (default 60000). */
  timeoutMs?: number;
  retry?: ApiRetryOptions;
}

export interface GmailSourceSettings extends GmailCommonSettings {
  /** The label to fetch (default `INBOX`). */
  labelId?: string;
}

export type GmailTransportSettings = GmailCommonSettings;

/**
 * Position of a Gmail source. `full`: listing the label page by page since the profile's
 * `historyId`, taken before the first page so nothing added during the listing is missed.
 * `incremental`: reading history records after `historyId`. `skip` counts refs of the page
 * under `pageToken` already handed out, for pages longer than `maxItems`.
 */
interface GmailCursor {
  phase: 'full' | 'incremental';
  historyId: string;
  pageToken: string | null;
  skip: number;
}

type GmailClient = gmail_v1.Gmail;

/** The parts of a GaxiosError we read, without importing gaxios (a dependency of googleapis, not ours). */
interface HttpFailure {
  code?: string | number;
  response?: { status: number; headers: Headers; data?: unknown };
}

function isHttpFailure(error: unknown): error is HttpFailure {
  return typeof error === 'object' && error !== null && ('response' in error || 'code' in error);
}

/** Reads the `error` object of Google's JSON error body: `{ error: { code, message, status, errors: [{ reason }] } }`. */
function googleErrorOf(data: unknown): { message: string; status: string; reason: string } {
  const body = typeof data === 'object' && data !== null && 'error' in data ? (data as { error: unknown }).error : null;
  if (typeof body !== 'object' || body === null) {
    return { message: '', status: '', reason: '' };
  }
  const fields = body as { message?: unknown; status?: unknown; errors?: unknown };
  const first = Array.isArray(fields.errors) ? (fields.errors[0] as { reason?: unknown } | undefined) : undefined;
  return {
    message: typeof fields.message === 'string' ? fields.message.slice(0, maxQuotedLength) : '',
    status: typeof fields.status === 'string' ? fields.status : '',
    reason: typeof first?.reason === 'string' ? first.reason : '',
  };
}

function isCursorPhase(value: unknown): value is GmailCursor['phase'] {
  return value === 'full' || value === 'incremental';
}

/** Reads a stored cursor; null when it is not a Gmail cursor (then the source starts a full sync). */
function readCursor(cursor: SourceCursor): GmailCursor | null {
  const { phase, historyId, pageToken, skip } = cursor;
  if (!isCursorPhase(phase) || typeof historyId !== 'string' || !/^\d+$/.test(historyId)) {
    return null;
  }
  if (pageToken !== null && typeof pageToken !== 'string') {
    return null;
  }
  if (typeof skip !== 'number' || !Number.isInteger(skip) || skip < 0) {
    return null;
  }
  return { phase, historyId, pageToken, skip };
}

function toSourceCursor(cursor: GmailCursor): SourceCursor {
  return { phase: cursor.phase, historyId: cursor.historyId, pageToken: cursor.pageToken, skip: cursor.skip };
}

function checkMaxItems(maxItems: number): number {
  if (!Number.isInteger(maxItems) || maxItems < 1) {
    throw new MailqueueError(FailureType.InvalidConfiguration, `maxItems must be a positive integer, got ${String(maxItems)}`, { maxItems });
  }
  return Math.min(maxItems, gmailMaxPageSize);
}

/** Removes repeated ids, keeping first-seen order, because one message can appear in several history records. */
function uniqueIds(ids: Array<string | null | undefined>): string[] {
  return [...new Set(ids.filter((id): id is string => typeof id === 'string' && id !== ''))];
}

/**
 * Cuts one API page to `maxItems` refs. A longer page is returned in slices, and the cursor
 * keeps the page token and the count of refs already returned. After the last slice the cursor moves to `next`.
 */
function slicePage(ids: string[], current: GmailCursor, maxItems: number, next: GmailCursor, nextHasMore: boolean): { refs: SourceMessageRef[]; cursorAfter: GmailCursor; more: boolean } {
  const end = current.skip + maxItems;
  const refs = ids.slice(current.skip, end).map((id) => ({ key: `${keyPrefix}${id}`, size: null }));
  if (end < ids.length) {
    return { refs, cursorAfter: { ...current, skip: end }, more: true };
  }
  return { refs, cursorAfter: next, more: nextHasMore };
}

/** Failure types of one adapter side: the source reports throttling as ConnectionFailed, the transport as TemporaryDeliveryFailure. */
interface GmailSide {
  what: 'Gmail source' | 'Gmail transport';
  throttledType: typeof FailureType.ConnectionFailed | typeof FailureType.TemporaryDeliveryFailure;
  rejectedType: typeof FailureType.ProtocolError | typeof FailureType.PermanentDeliveryFailure;
}

const sourceSide: GmailSide = { what: 'Gmail source', throttledType: FailureType.ConnectionFailed, rejectedType: FailureType.ProtocolError };
const transportSide: GmailSide = { what: 'Gmail transport', throttledType: FailureType.TemporaryDeliveryFailure, rejectedType: FailureType.PermanentDeliveryFailure };

/** Shared plumbing of the Gmail source and transport: one client, the token header, error translation. */
class GmailApi {
  readonly client: GmailClient;
  readonly userId: string;
  private readonly tokens: AccessTokenProvider;
  private readonly retry: ApiRetryOptions;
  private readonly failures: ApiFailureFactory;

  constructor(
    settings: GmailCommonSettings,
    private readonly side: GmailSide,
    private readonly log: Logger,
  ) {
    this.userId = settings.userId ?? 'me';
    if (this.userId.trim() === '') {
      throw new MailqueueError(FailureType.InvalidConfiguration, 'Gmail userId is empty; use "me" or the mailbox address', {});
    }
    const rootUrl = settings.apiBaseUrl ?? defaultGmailApiBaseUrl;
    this.client = gmail({ version: 'v1', rootUrl, timeout: settings.timeoutMs ?? defaultTimeoutMs, retry: false });
    this.tokens = settings.tokens;
    this.retry = settings.retry ?? {};
    this.failures = {
      unauthorized: (status, code) =>
        new MailqueueError(FailureType.AuthenticationFailed, `${side.what}: Google rejected the access token (${status} ${code}) also after a refresh; reconnect the mailbox`, { status, code, userId: this.userId }),
      throttled: (status, code, retryAfterMs) =>
        new MailqueueError(side.throttledType, `${side.what}: Gmail API returned ${status} ${code} repeatedly; retry later`, { status, code, retryAfterMs, userId: this.userId }),
    };
  }

  /**
   * Runs one Gmail call with the bearer token, with the retry rules of `callWithRetries`. `special`
   * may claim an HTTP status before the general translation (a 404 that means "gone").
   */
  async call<T>(operation: string, run: (options: MethodOptions) => Promise<T>, special?: (status: number) => ApiOutcome<T> | null): Promise<T> {
    const context = { operation, userId: this.userId };
    return callWithRetries(
      this.tokens,
      async (accessToken) => {
        try {
          return { kind: 'ok', value: await run({ headers: { Authorization: `Bearer ${accessToken}` } }) };
        } catch (error) {
          const status = isHttpFailure(error) ? error.response?.status : undefined;
          const claimed = status === undefined || special === undefined ? null : special(status);
          return claimed ?? this.translate(operation, error);
        }
      },
      this.failures,
      this.retry,
      this.log,
      context,
    );
  }

  /** Maps a failed call to an outcome. Never quotes the request (its headers hold the token). */
  private translate(operation: string, error: unknown): ApiOutcome<never> {
    if (!isHttpFailure(error)) {
      return { kind: 'failed', error: new MailqueueError(FailureType.ProtocolError, `${this.side.what}: ${operation} failed: ${error instanceof Error ? error.message : String(error)}`, { operation }) };
    }

    const response = error.response;
    if (response === undefined) {
      // gaxios 7 reports its own timeout as an aborted request (cause AbortError), and newer
      // releases as TimeoutError. No other abort signal is passed here, so an abort is the timeout.
      const aborted = error instanceof Error && error.cause instanceof Error && error.cause.name === 'AbortError';
      const code = String(error.code ?? (aborted ? 'TimeoutError' : 'unknown'));
      const type = code === 'TimeoutError' ? FailureType.Timeout : FailureType.ConnectionFailed;
      return { kind: 'failed', error: new MailqueueError(type, `${this.side.what}: ${operation} could not reach the Gmail API (${code})`, { operation, code }) };
    }

    const { status } = response;
    const google = googleErrorOf(response.data);
    const code = google.reason || google.status || String(status);
    const details = { operation, status, code, userId: this.userId };

    if (status === 401) {
      return { kind: 'unauthorized', status, code };
    }
    // Gmail reports per-user rate limits as 403 with these reasons as well as 429.
    if (status === 429 || status >= 500 || (status === 403 && (google.reason === 'rateLimitExceeded' || google.reason === 'userRateLimitExceeded'))) {
      return { kind: 'throttled', status, code, retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), Date.now()) };
    }
    if (status === 403) {
      return {
        kind: 'failed',
        error: new MailqueueError(FailureType.AuthenticationFailed, `${this.side.what}: Google denied ${operation} for ${this.userId} (${code}: ${google.message}); grant the gmail.modify and gmail.send scopes (or https://mail.google.com/) and reconnect`, details),
      };
    }
    return { kind: 'failed', error: new MailqueueError(this.side.rejectedType, `${this.side.what}: Gmail API rejected ${operation} with ${status} ${code}: ${google.message}`, details) };
  }
}

class GmailSource implements MailSource {
  readonly protocol = 'gmail';
  private readonly labelId: string;

  constructor(
    private readonly api: GmailApi,
    labelId: string,
    private readonly log: Logger,
  ) {
    this.labelId = labelId;
  }

  async listNew(cursor: SourceCursor | null, maxItems: number): Promise<SourceListing> {
    const pageSize = checkMaxItems(maxItems);
    const stored = cursor === null ? null : readCursor(cursor);

    if (stored === null) {
      if (cursor !== null) {
        this.log.warn({ userId: this.api.userId, labelId: this.labelId }, 'stored Gmail cursor unreadable, starting a full sync');
      }
      return this.startFullSync(pageSize, cursor !== null);
    }
    if (stored.phase === 'full') {
      const page = await this.listFullPage(stored, pageSize);
      if (page !== 'expired') {
        return { ...page, resynced: false };
      }
      this.log.warn({ userId: this.api.userId, labelId: this.labelId }, 'Gmail page token no longer valid, restarting the full listing');
      return this.startFullSync(pageSize, true);
    }

    const page = await this.listHistoryPage(stored, pageSize);
    if (page === 'expired') {
      this.log.warn({ userId: this.api.userId, labelId: this.labelId, historyId: stored.historyId }, 'Gmail history id expired, resyncing the label');
      return this.startFullSync(pageSize, true);
    }
    return { ...page, resynced: false };
  }

  /** Takes the profile's current history id first, then lists the first page of the label. */
  private async startFullSync(pageSize: number, resynced: boolean): Promise<SourceListing> {
    const profile = await this.api.call('users.getProfile', (options) => this.api.client.users.getProfile({ userId: this.api.userId }, options));
    const historyId = profile.data.historyId;
    if (typeof historyId !== 'string' || !/^\d+$/.test(historyId)) {
      throw new MailqueueError(FailureType.ProtocolError, 'Gmail source: the profile has no historyId', { userId: this.api.userId });
    }
    const page = await this.listFullPage({ phase: 'full', historyId, pageToken: null, skip: 0 }, pageSize);
    if (page === 'expired') {
      throw new MailqueueError(FailureType.ProtocolError, 'Gmail source: the first page of a full listing was rejected as expired', { userId: this.api.userId });
    }
    return { ...page, resynced };
  }

  /**
   * Lists one page of the label. Returns 'expired' when Gmail rejects the stored page token.
   * NOTE: Gmail does not document the status of a stale page token; 400 and 404 are taken as one.
   */
  private async listFullPage(current: GmailCursor, pageSize: number): Promise<Omit<SourceListing, 'resynced'> | 'expired'> {
    const response = await this.api.call<gmail_v1.Schema$ListMessagesResponse | 'expired'>(
      'users.messages.list',
      async (options) => {
        const answer = await this.api.client.users.messages.list(
          { userId: this.api.userId, labelIds: [this.labelId], maxResults: pageSize, pageToken: current.pageToken ?? undefined },
          options,
        );
        return answer.data;
      },
      (status) => {
        if (status !== 400 && status !== 404) {
          return null;
        }
        if (current.pageToken !== null) {
          return { kind: 'ok', value: 'expired' };
        }
        const message = `Gmail source: label ${this.labelId} was not found in mailbox ${this.api.userId} (${status}); set labelId to a label id such as INBOX or Label_123, not its display name`;
        return { kind: 'failed', error: new MailqueueError(FailureType.FolderNotFound, message, { status, labelId: this.labelId, userId: this.api.userId }) };
      },
    );
    if (response === 'expired') {
      return 'expired';
    }

    const ids = uniqueIds((response.messages ?? []).map((message) => message.id));
    const nextPageToken = response.nextPageToken ?? null;
    const next: GmailCursor =
      nextPageToken === null
        ? { phase: 'incremental', historyId: current.historyId, pageToken: null, skip: 0 }
        : { phase: 'full', historyId: current.historyId, pageToken: nextPageToken, skip: 0 };
    const page = slicePage(ids, current, pageSize, next, nextPageToken !== null);
    return { refs: page.refs, cursorAfter: toSourceCursor(page.cursorAfter), more: page.more };
  }

  /**
   * Lists one page of history after the cursor: messages added with the label, and messages
   * that got the label later (moved back from spam or archive). Returns 'expired' when Gmail no
   * longer has that history id (404).
   */
  private async listHistoryPage(current: GmailCursor, pageSize: number): Promise<Omit<SourceListing, 'resynced'> | 'expired'> {
    const response = await this.api.call<gmail_v1.Schema$ListHistoryResponse | 'expired'>(
      'users.history.list',
      async (options) => {
        const answer = await this.api.client.users.history.list(
          {
            userId: this.api.userId,
            startHistoryId: current.historyId,
            historyTypes: ['messageAdded', 'labelAdded'],
            labelId: this.labelId,
            maxResults: pageSize,
            pageToken: current.pageToken ?? undefined,
          },
          options,
        );
        return answer.data;
      },
      (status) => (status === 404 ? { kind: 'ok', value: 'expired' } : null),
    );
    if (response === 'expired') {
      return 'expired';
    }

    const records = response.history ?? [];
    const added = records.flatMap((record) => record.messagesAdded ?? []).map((entry) => entry.message?.id);
    const labelled = records.flatMap((record) => record.labelsAdded ?? []).filter((entry) => entry.labelIds?.includes(this.labelId) === true).map((entry) => entry.message?.id);
    const ids = uniqueIds([...added, ...labelled]);
    const nextPageToken = response.nextPageToken ?? null;
    const latestHistoryId = typeof response.historyId === 'string' && /^\d+$/.test(response.historyId) ? response.historyId : current.historyId;
    const next: GmailCursor =
      nextPageToken === null
        ? { phase: 'incremental', historyId: latestHistoryId, pageToken: null, skip: 0 }
        : { phase: 'incremental', historyId: current.historyId, pageToken: nextPageToken, skip: 0 };
    const page = slicePage(ids, current, pageSize, next, nextPageToken !== null);
    return { refs: page.refs, cursorAfter: toSourceCursor(page.cursorAfter), more: page.more };
  }

  async download(ref: SourceMessageRef): Promise<DownloadedSourceMessage | null> {
    const id = messageIdOfKey(ref.key);
    if (id === null) {
      throw new MailqueueError(FailureType.ProtocolError, `Gmail source: ${ref.key} is not a Gmail key (expected gmail:<message id>)`, { key: ref.key });
    }

    const message = await this.api.call<gmail_v1.Schema$Message | null>(
      'users.messages.get',
      async (options) => (await this.api.client.users.messages.get({ userId: this.api.userId, id, format: 'raw' }, options)).data,
      (status) => (status === 404 ? { kind: 'ok', value: null } : null),
    );
    if (message === null) {
      this.log.info({ userId: this.api.userId, key: ref.key }, 'Gmail message vanished before download');
      return null;
    }
    if (typeof message.raw !== 'string') {
      throw new MailqueueError(FailureType.ProtocolError, `Gmail source: message ${id} came without raw content`, { key: ref.key });
    }

    const raw = Buffer.from(message.raw, 'base64url');
    return { key: ref.key, raw, deliveredTo: deliveredToAddresses(raw) };
  }

  /** Moves each message to Trash (Gmail empties it after 30 days), so an operator can still recover it. */
  async remove(keys: string[]): Promise<void> {
    for (const key of keys) {
      const id = messageIdOfKey(key);
      if (id === null) {
        continue;
      }
      const trashed = await this.api.call<boolean>(
        'users.messages.trash',
        async (options) => {
          await this.api.client.users.messages.trash({ userId: this.api.userId, id }, options);
          return true;
        },
        (status) => (status === 404 ? { kind: 'ok', value: false } : null),
      );
      this.log.info({ userId: this.api.userId, key, trashed }, trashed ? 'Gmail message moved to trash' : 'Gmail message to trash was already gone');
    }
  }

  /** Nothing to end: every call is a single HTTP request. */
  async close(): Promise<void> {}
}

function messageIdOfKey(key: string): string | null {
  return key.startsWith(keyPrefix) && key.length > keyPrefix.length ? key.slice(keyPrefix.length) : null;
}

/**
 * Creates a MailSource over the Gmail API. The first sync lists the label (default INBOX) page
 * by page. Later syncs read history after the stored history id, which covers messages added
 * with the label and messages that got it later. A 404 for an expired history id restarts
 * the full listing with `resynced: true`. Keys are `gmail:<message id>`, so a message under
 * several labels, or listed again after a resync, keeps its key and storage skips it.
 *
 * A 401 makes `tokens` forget its token and retries once; 429, 5xx and Gmail's rate-limit 403s
 * wait for Retry-After (bounded by `retry.maxWaitMs`) and then throw ConnectionFailed. `remove`
 * moves messages to Trash.
 */
export function createGmailSource(settings: GmailSourceSettings, log: Logger = childLogger({ component: 'gmail' })): MailSource {
  const labelId = settings.labelId ?? 'INBOX';
  if (labelId.trim() === '') {
    throw new MailqueueError(FailureType.InvalidConfiguration, 'Gmail labelId is empty; use a label id such as INBOX', {});
  }
  return new GmailSource(new GmailApi(settings, sourceSide, log), labelId, log);
}

/**
 * Creates an OutgoingTransport over Gmail's `users.messages.send`. The message goes as `raw`,
 * the base64url of the exact bytes, so Message-ID, threading headers, Reply-To and the From
 * (a send-as alias of the account) stay as composed. Gmail replaces a From that is not a
 * verified send-as address of the account with the account's own address.
 *
 * Gmail sends to the To, Cc and Bcc headers and has no SMTP envelope, so an envelope
 * recipient missing from those headers is rejected with PermanentDeliveryFailure rather than
 * silently dropped. 400 → PermanentDeliveryFailure; 429, 5xx → TemporaryDeliveryFailure
 * after bounded waits; 401 → one retry with a new token, then AuthenticationFailed.
 * `findSent` looks a Message-ID up in the SENT label, so an interrupted send can be checked.
 */
export function createGmailTransport(settings: GmailTransportSettings, log: Logger = childLogger({ component: 'gmail' })): OutgoingTransport & SentMailLookup {
  const api = new GmailApi(settings, transportSide, log);

  return {
    protocol: 'gmail',
    async send(envelope: { from: string; to: string[] }, raw: Buffer): Promise<OutgoingSendResult> {
      checkEnvelopeAgainstHeaders('Gmail transport', envelope.to, raw);

      // NOTE: Gmail's JSON send limits the message size (a few MB, not measured here); larger mail would need the media upload endpoint.
      const sent = await api.call('users.messages.send', async (options) => (await api.client.users.messages.send({ userId: api.userId, requestBody: { raw: raw.toString('base64url') } }, options)).data);

      log.info({ userId: api.userId, gmailId: sent.id, threadId: sent.threadId, recipients: envelope.to.length }, 'message sent through the Gmail API');
      return { accepted: [...envelope.to], rejected: [], response: `Gmail accepted message ${sent.id ?? 'without id'}` };
    },

    /** Searches the SENT label with Gmail's `rfc822msgid:` operator. */
    async findSent(messageId: string): Promise<boolean> {
      const query = `rfc822msgid:${searchableMessageId(messageId)}`;
      const found = await api.call('users.messages.list', async (options) => (await api.client.users.messages.list({ userId: api.userId, labelIds: ['SENT'], q: query, maxResults: 1 }, options)).data);
      return (found.messages ?? []).length > 0;
    },
  };
}

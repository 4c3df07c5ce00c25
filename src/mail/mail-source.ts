/**
 * The protocol-neutral contract between the fetch activity and an incoming mailbox
 * (POP3, Gmail API, Microsoft Graph, and IMAP behind an adapter). The fetch activity
 * stores each downloaded message under its `key` before it writes `cursorAfter`, so a
 * crash between the two re-reads a batch and storage skips what committed.
 *
 * Adapters never see the database, never log secrets, and throw `MailqueueError`
 * (src/errors.ts): AuthenticationFailed for a rejected login or token, ConnectionFailed,
 * Timeout, ProtocolError for a response the protocol does not allow.
 */

/** JSON the adapter keeps between fetches: a history id, a delta link, a page token. Opaque to everyone else. */
export type SourceCursor = { readonly [key: string]: string | number | boolean | null };

/** A message waiting at the source. */
export interface SourceMessageRef {
  /**
   * Stable identity of this message in this mailbox, prefixed by protocol:
   * `pop3:<UIDL>`, `gmail:<message id>`, `graph:<immutable id>`. The same message seen
   * twice (under two labels, after a resync) has the same key.
   */
  key: string;
  /** Size in bytes when the listing includes it, otherwise null. Used to bound batches. */
  size: number | null;
}

/** One page of new messages. */
export interface SourceListing {
  refs: SourceMessageRef[];
  /** Cursor to store once every ref of this page is stored; null keeps the stored cursor. */
  cursorAfter: SourceCursor | null;
  /** More pages wait; the fetch activity calls `listNew` again with `cursorAfter`. */
  more: boolean;
  /**
   * True when the stored cursor had expired (Gmail 404 on an old history id, Graph 410 on
   * a delta link) and this listing restarted from a full sync. Keys already stored are
   * skipped by storage, so a resync doubles nothing.
   */
  resynced: boolean;
}

export interface DownloadedSourceMessage {
  key: string;
  /** The raw RFC 5322 message, byte for byte as the provider serves it. */
  raw: Buffer;
  /** Addresses the message was delivered to (an alias of the mailbox), when the provider reports them. */
  deliveredTo: string[];
}

export interface MailSource {
  /** Protocol name for logs and status: pop3, imap, gmail, graph. */
  readonly protocol: string;
  /** New messages after `cursor` (null: the first sync), at most `maxItems` refs per page. */
  listNew(cursor: SourceCursor | null, maxItems: number): Promise<SourceListing>;
  /** Downloads the raw bytes of one message; resolves null when it vanished since the listing. */
  download(ref: SourceMessageRef): Promise<DownloadedSourceMessage | null>;
  /** Deletes messages whose rows have committed ("do not keep emails"); unknown keys are ignored. */
  remove(keys: string[]): Promise<void>;
  /** Ends the session (POP3 QUIT commits deletions); safe to call twice. */
  close(): Promise<void>;
}

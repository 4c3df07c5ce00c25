/**
 * The contract every incoming-mail adapter (IMAP, POP3, Gmail, Graph) fulfils.
 * Adapters never see the database: the fetch activity drives them.
 */

/** Connection settings with the secret already decrypted. Lives only inside an activity. */
export interface ImapConnectionSettings {
  host: string;
  port: number;
  user: string;
  /** Empty when `accessToken` is set. */
  password: string;
  /** OAuth2 access token: log in with XOAUTH2 instead of the password. */
  accessToken?: string;
  /** Implicit TLS from the first byte. When false, STARTTLS is used if the server offers it. */
  ssl: boolean;
  /** When true only certificates that verify are accepted; when false self-signed ones are accepted with a warning. */
  sslTrusted: boolean;
  /** Timeout for connecting and for every command, in milliseconds. */
  timeoutMs?: number;
}

/** State of a folder when it is opened. */
export interface FolderState {
  folder: string;
  /** UIDVALIDITY as a decimal string (imapflow returns a bigint). */
  uidValidity: string;
  uidNext: number;
  exists: number;
}

/** A UID with its size in bytes (RFC822.SIZE), used to plan bounded batches before downloading. */
export interface MessageSize {
  uid: number;
  size: number;
}

export interface FetchedMessage {
  uid: number;
  raw: Buffer;
}

/**
 * An open session on one folder. Every method finishes its IMAP command before it
 * returns, so callers may issue the next command right away.
 */
export interface IncomingFolderSession {
  readonly state: FolderState;
  /** UIDs greater than `afterUid` with their sizes, ascending. */
  listAfter(afterUid: number): Promise<MessageSize[]>;
  /** Downloads the raw bytes of the given UIDs; UIDs that vanished are left out. */
  download(uids: number[]): Promise<FetchedMessage[]>;
  /** Deletes the given UIDs (flag \Deleted and expunge those UIDs only). */
  delete(uids: number[]): Promise<void>;
  /** Moves the given UIDs to `folder`, creating the folder when it does not exist. */
  move(uids: number[], folder: string): Promise<void>;
  close(): Promise<void>;
}

export interface IncomingMailbox {
  openFolder(folder: string): Promise<IncomingFolderSession>;
}

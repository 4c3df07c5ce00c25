/** The `expected.json` format of a failure case folder (see the cases README beside the folders). */
export interface CaseAttachmentExpectation {
  filename: string;
  size?: number;
  content_type?: string;
  sha256?: string;
  content_id?: string;
}

export interface OutgoingFixture {
  file: string;
  after_input: number;
  kind: string;
  ticket_of_input: number;
  ticket_number?: number;
}

/** Fields of the ticket an input is on, as routing rules leave them; a case lists only those it checks. */
export interface CaseTicketFields {
  category?: string | null;
  priority?: string;
  status?: string;
  stage?: string | null;
  /** User alias. */
  owner?: string | null;
  extra_statuses?: string[];
  custom_fields?: Record<string, string>;
}

export interface CaseExpectation {
  title?: string;
  inputs?: string[];
  outgoing_fixtures?: OutgoingFixture[];
  fetched_from?: Record<string, string>;
  tickets?: number;
  threaded?: number[][];
  duplicates_ignored?: number[];
  own_messages_ignored?: number[];
  autoresponses?: number;
  autoresponse_to?: string[];
  subject?: string;
  subjects?: Record<string, string>;
  subject_any_of?: string[] | Record<string, string[]>;
  body_contains_any_of?: Record<string, string[]>;
  body_must_not_contain?: string[] | Record<string, string[]>;
  customers?: string[] | Record<string, string>;
  normalized_subject_of_inputs?: Record<string, string>;
  from_names?: Record<string, string>;
  requesters?: Record<string, string>;
  participants?: Record<string, string[]>;
  participants_of_ticket_1?: string[];
  body_contains?: Record<string, string[]>;
  body_html_must_contain?: string[];
  body_html_must_not_contain?: string[];
  attachments?: CaseAttachmentExpectation[] | Record<string, CaseAttachmentExpectation[]>;
  inline_images?: CaseAttachmentExpectation[];
  must_not_contain_replacement_char?: boolean;
  auto_replies_detected?: number[];
  bounces_detected?: number[];
  delivery_failure_recorded?: { ticket_of_input: number; recipient: string; status: string };
  /** Category of every input's ticket (a string), or by input number. */
  category?: string | Record<string, string | null>;
  /** Priority of every input's ticket (a string), or by input number. */
  priority?: string | Record<string, string>;
  ticket_fields?: Record<string, CaseTicketFields>;
  /** Names of the routing rules that matched each input, in order. */
  routing_rules_matched?: Record<string, string[]>;
  /**
   * `routing_rules`: rule documents in the format of docs/routing-rules.md, where a queue
   * may be named "support" or "billing" instead of by number.
   */
  config?: { autoresponse_exceptions?: string[]; after_processing?: string; routing_rules?: unknown[]; [key: string]: unknown };
  imap?: Record<string, { mailbox?: string; uidvalidity?: number; uid?: number } | unknown>;
  [key: string]: unknown;
}

/**
 * Keys that describe a case but are not checks, or whose check is another key
 * (e.g. `body_html_present` is implied by `body_contains` on an HTML-only mail).
 */
export const descriptiveKeys = new Set([
  'title',
  'inputs',
  'outgoing_fixtures',
  'fetched_from',
  'notes',
  'case',
  'precondition',
  'exception_matched',
  'acceptable_alternative',
  'max_parse_seconds',
  'scenario',
  'required_behaviour',
  'imap',
]);

import { z } from 'zod';
import { describeIssues } from './validation-messages.js';

import { compilePatterns } from './address-patterns.js';
import { validateRateLimit } from './rate-limit.js';

/**
 * The JSON document an operator writes to create a queue
 * (`mailqueue queue create --file queue.json`). docs/queue-config.md describes it.
 */

const hostname = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .regex(/^[A-Za-z0-9.:\-[\]_]+$/, 'must be a host name or IP address');

export const imapIncomingSchema = z
  .object({
    protocol: z.literal('imap'),
    host: hostname,
    /** Default 993 with ssl, 143 without. */
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().min(1, 'must not be empty'),
    password: z.string().min(1, 'must not be empty'),
    /** Implicit TLS. When false, STARTTLS is used when the server offers it. */
    ssl: z.boolean().default(true),
    /** When true, only certificates that verify are accepted. */
    sslTrusted: z.boolean().default(true),
    /** Delete each message from the server once it is stored. */
    dontKeepEmails: z.boolean().default(false),
    folder: z.string().min(1).default('INBOX'),
    /** Move each message to this folder once it is stored, instead of leaving it in `folder`. */
    processedFolder: z.string().min(1).nullable().optional(),
  })
  .strict()
  .superRefine((incoming, context) => {
    if (incoming.dontKeepEmails && incoming.processedFolder != null) {
      context.addIssue({ code: 'custom', path: ['processedFolder'], message: 'cannot be combined with dontKeepEmails: a message is either deleted or moved' });
    }
    if (incoming.processedFolder != null && incoming.processedFolder === incoming.folder) {
      context.addIssue({ code: 'custom', path: ['processedFolder'], message: `must differ from folder "${incoming.folder}"` });
    }
  });


/** Identity providers a mailbox can connect to with OAuth2. */
export const oauthProviders = ['microsoft', 'google'] as const;
export type OAuthProviderName = (typeof oauthProviders)[number];

/** Every incoming protocol; `imap` is assumed when a file gives none. */
export const incomingProtocols = ['imap', 'pop3', 'imap-oauth2', 'gmail', 'graph', 'graph-tenant'] as const;
export type IncomingProtocol = (typeof incomingProtocols)[number];

/** Every outgoing protocol; `smtp` is assumed when a file gives none. */
export const outgoingProtocols = ['smtp', 'smtp-oauth2', 'gmail', 'graph'] as const;
export type OutgoingProtocol = (typeof outgoingProtocols)[number];

const port = z.number().int().min(1).max(65535);

/** Name of an OAuth2 integration created with `mailqueue oauth integrations add`. */
const integrationName = z.string().trim().min(1, 'must not be empty: name an integration from `mailqueue oauth integrations list`').max(200);

export const pop3IncomingSchema = z
  .object({
    protocol: z.literal('pop3'),
    host: hostname,
    /** Default 995 with ssl, 110 without. */
    port: port.optional(),
    user: z.string().min(1, 'must not be empty'),
    password: z.string().min(1, 'must not be empty'),
    ssl: z.boolean().default(true),
    sslTrusted: z.boolean().default(true),
    /** Delete each message (DELE, then QUIT) once its row has committed. */
    dontKeepEmails: z.boolean().default(false),
  })
  .strict();

export const imapOAuth2IncomingSchema = z
  .object({
    protocol: z.literal('imap-oauth2'),
    provider: z.enum(oauthProviders),
    integration: integrationName,
    /** Omitted: outlook.office365.com for microsoft, imap.gmail.com for google. */
    host: hostname.optional(),
    port: port.optional(),
    /** The mailbox address; XOAUTH2 sends it with the token. */
    user: z.string().trim().min(1, 'must not be empty'),
    ssl: z.boolean().default(true),
    sslTrusted: z.boolean().default(true),
    dontKeepEmails: z.boolean().default(false),
    folder: z.string().min(1).default('INBOX'),
    processedFolder: z.string().min(1).nullable().optional(),
  })
  .strict()
  .superRefine((incoming, context) => {
    if (incoming.dontKeepEmails && incoming.processedFolder != null) {
      context.addIssue({ code: 'custom', path: ['processedFolder'], message: 'cannot be combined with dontKeepEmails: a message is either deleted or moved' });
    }
  });

/** Gmail API, Graph with a delegated (signed-in) account, and Graph with the tenant's application permissions. */
function cloudIncomingSchema<P extends 'gmail' | 'graph' | 'graph-tenant'>(protocol: P) {
  return z
    .object({
      protocol: z.literal(protocol),
      integration: integrationName,
      /** The mailbox address. */
      user: z.string().trim().regex(/^[^\s@]+@[^\s@]+$/, 'must be the mailbox address such as support@example.com'),
      dontKeepEmails: z.boolean().default(false),
    })
    .strict();
}

export const incomingSchema = z.discriminatedUnion('protocol', [
  imapIncomingSchema,
  pop3IncomingSchema,
  imapOAuth2IncomingSchema,
  cloudIncomingSchema('gmail'),
  cloudIncomingSchema('graph'),
  cloudIncomingSchema('graph-tenant'),
]);

/** Security modes of the outgoing connection; see `resolveSecurity` in src/mail/smtp.ts. */
export const smtpSecurityModes = ['auto', 'implicit-tls', 'starttls-required', 'starttls-opportunistic', 'none'] as const;

/** Port of the outgoing server when the file gives none: 587, mail submission with STARTTLS. */
export const DEFAULT_SMTP_PORT = 587;

/** Seconds a post-processing workflow may run when the file gives no timeout: 10 minutes. */
export const DEFAULT_POSTPROCESSING_TIMEOUT_SECONDS = 600;

// A deliberately loose check: one "@", a dot in the domain, no whitespace and none of the
// characters that would need quoting in a header. The SMTP server has the final word.
const emailPattern = /^[^\s@<>()",;:]+@[^\s@<>()",;:]+\.[^\s@<>()",;:]+$/;

/** Returns true when `value` looks like a plain mail address such as `support@example.com`. */
export function isEmailAddress(value: string): boolean {
  return emailPattern.test(value);
}

const emailAddress = z.string().trim().regex(emailPattern, 'must be a mail address such as support@example.com');

/** A Temporal name: workflow type or task queue. */
const temporalName = z.string().max(1000).regex(/^\S+$/, 'must be a non-empty name without whitespace');

const referenceName = z.string().trim().min(1, 'must not be empty: give a name, or leave the field out').max(200);

export const smtpOutgoingSchema = z
  .object({
    protocol: z.literal('smtp'),
    host: hostname,
    port: z.number().int().min(1).max(65535).default(DEFAULT_SMTP_PORT),
    /** Omitted: send without SMTP AUTH. */
    user: z.string().min(1, 'must not be empty: leave it out to send without login').optional(),
    password: z.string().min(1, 'must not be empty').optional(),
    security: z.enum(smtpSecurityModes).default('auto'),
    /** Omitted: the incoming server's `sslTrusted`. */
    sslTrusted: z.boolean().optional(),
  })
  .strict()
  .superRefine((outgoing, context) => {
    if (outgoing.user !== undefined && outgoing.password === undefined) {
      context.addIssue({ code: 'custom', path: ['password'], message: 'is missing: a user needs a password; leave both out to send without login' });
    }
    if (outgoing.user === undefined && outgoing.password !== undefined) {
      context.addIssue({ code: 'custom', path: ['user'], message: 'is missing: a password needs a user name' });
    }
  });

/** SMTP with XOAUTH2: a token from an OAuth2 connection instead of a password. */
export const smtpOAuth2OutgoingSchema = z
  .object({
    protocol: z.literal('smtp-oauth2'),
    /** Omitted: smtp.office365.com for microsoft, smtp.gmail.com for google. */
    host: hostname.optional(),
    port: port.default(DEFAULT_SMTP_PORT),
    security: z.enum(smtpSecurityModes).default('auto'),
    sslTrusted: z.boolean().optional(),
    /** Omitted: the incoming user. */
    user: z.string().trim().min(1, 'must not be empty').optional(),
    /** Needed unless useSameMethodAsIncoming is true. */
    provider: z.enum(oauthProviders).optional(),
    integration: integrationName.optional(),
    /** Share the incoming OAuth2 connection (one sign-in, one token) instead of connecting the outgoing side on its own. */
    useSameMethodAsIncoming: z.boolean().default(false),
  })
  .strict();

function cloudOutgoingSchema<P extends 'gmail' | 'graph'>(protocol: P) {
  return z
    .object({
      protocol: z.literal(protocol),
      integration: integrationName.optional(),
      useSameMethodAsIncoming: z.boolean().default(false),
    })
    .strict();
}

export const outgoingSchema = z.discriminatedUnion('protocol', [smtpOutgoingSchema, smtpOAuth2OutgoingSchema, cloudOutgoingSchema('gmail'), cloudOutgoingSchema('graph')]);

/** The outgoing protocol that shares each OAuth2 incoming protocol's connection. */
export const sameMethodOutgoing: Partial<Record<IncomingProtocol, OutgoingProtocol>> = {
  'imap-oauth2': 'smtp-oauth2',
  gmail: 'gmail',
  graph: 'graph',
  'graph-tenant': 'graph',
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Fills in the protocols a file may leave out, so files written before there was a choice
 * stay valid: incoming `imap`, outgoing `smtp`, or the outgoing protocol matching the incoming
 * one when the outgoing side sets only `useSameMethodAsIncoming`.
 */
export function withDefaultProtocols(document: unknown): unknown {
  if (!isRecord(document)) return document;
  const result: Record<string, unknown> = { ...document };
  const incoming = document.incoming;
  if (isRecord(incoming) && incoming.protocol === undefined) {
    result.incoming = { ...incoming, protocol: 'imap' };
  }
  const outgoing = document.outgoing;
  if (isRecord(outgoing) && outgoing.protocol === undefined) {
    const incomingProtocol = isRecord(result.incoming) ? result.incoming.protocol : undefined;
    const shared = outgoing.useSameMethodAsIncoming === true && typeof incomingProtocol === 'string' ? sameMethodOutgoing[incomingProtocol as IncomingProtocol] : undefined;
    result.outgoing = { ...outgoing, protocol: shared ?? 'smtp' };
  }
  return result;
}

export const rateLimitSchema = z
  .object({
    max: z.number(),
    windowSeconds: z.number(),
  })
  .strict()
  .superRefine((limit, context) => {
    for (const message of validateRateLimit(limit)) context.addIssue({ code: 'custom', message });
  });

export const postprocessingSchema = z
  .object({
    workflowType: temporalName,
    taskQueue: temporalName,
    timeoutSeconds: z.number().int().min(1).max(86_400).default(DEFAULT_POSTPROCESSING_TIMEOUT_SECONDS),
  })
  .strict();

/** Defaults of the `agents` section; docs/agents-and-activities.md explains the choice. */
export const DEFAULT_AGENT_SETTINGS = { wrapUpSeconds: 0, offerTimeoutSeconds: 60, allowMultipleStatuses: false } as const;

export const agentSettingsSchema = z
  .object({
    /** Seconds an agent rests after finishing an activity before the next offer; 0 to 86400. */
    wrapUpSeconds: z.number().int().min(0).max(86_400).default(DEFAULT_AGENT_SETTINGS.wrapUpSeconds),
    /** Seconds an agent has to accept an offer; 5 to 86400. */
    offerTimeoutSeconds: z.number().int().min(5).max(86_400).default(DEFAULT_AGENT_SETTINGS.offerTimeoutSeconds),
    /** Whether an activity may carry several statuses. */
    allowMultipleStatuses: z.boolean().default(DEFAULT_AGENT_SETTINGS.allowMultipleStatuses),
  })
  .strict();

const autoresponseExceptionsSchema = z.array(z.string()).superRefine((patterns, context) => {
  // Compiled one by one so each message carries the index of its pattern.
  patterns.forEach((pattern, index) => {
    for (const message of compilePatterns([pattern]).errors) context.addIssue({ code: 'custom', path: [index], message });
  });
});

const queueConfigObjectSchema = z
  .object({
    /** Omitted: the next free number. */
    number: z.number().int().min(1).max(2_000_000_000).optional(),
    title: z.string().trim().min(1, 'must not be empty').max(200),
    description: z.string().max(2000).default(''),
    active: z.boolean().default(true),
    category: z.string().trim().min(1).max(200).nullable().default(null),
    /** Seconds between polls when no `mailArrived` signal comes; 10 to 86400. */
    pollIntervalSeconds: z.number().int().min(10).max(86_400).default(60),
    /** Messages larger than this many bytes are stored raw with an error instead of parsed. */
    maxMessageBytes: z.number().int().min(1024).max(1_073_741_824).default(26_214_400),
    incoming: incomingSchema,

    // Outgoing mail. Every field is optional so queue files written before outgoing mail stay valid.
    outgoing: outgoingSchema.nullable().optional(),
    /** Omitted: the incoming user when that is a mail address. */
    senderAddress: emailAddress.nullable().optional(),
    /** Name of a sender-info template: the display name of outgoing mail. */
    senderInfoTemplate: referenceName.nullable().optional(),
    /** Reply-To of outgoing mail; empty or null for none. */
    replyTo: z.union([emailAddress, z.literal('')]).nullable().optional(),
    signatureTemplate: referenceName.nullable().optional(),
    npsSurveyTemplate: referenceName.nullable().optional(),
    autoresponseTemplate: referenceName.nullable().optional(),
    /** Name of the time group whose working hours decide when auto-responses go out. */
    timeGroup: referenceName.nullable().optional(),
    /** Sender patterns that never get an auto-response; see compilePatterns. */
    autoresponseExceptions: autoresponseExceptionsSchema.optional(),
    /** Auto-responses per recipient; omitted or null: DEFAULT_RATE_LIMIT. */
    autoresponseRateLimit: rateLimitSchema.nullable().optional(),
    /** Temporal workflow each composed mail is handed to instead of being sent; see docs/postprocessing-events.md. */
    postprocessing: postprocessingSchema.nullable().optional(),
    /** Wrap-up time, offer timeout and statuses of the queue's email activities; omitted: the defaults. */
    agents: agentSettingsSchema.optional(),
  })
  .strict()
  .superRefine((config, context) => {
    if (config.outgoing && !config.senderAddress && defaultSenderAddress(config) === null) {
      context.addIssue({
        code: 'custom',
        path: ['senderAddress'],
        message: `is missing: the incoming user "${config.incoming.user}" is not a mail address, so outgoing mail needs a senderAddress such as support@example.com`,
      });
    }
    checkOutgoingMethod(config, context);
  });

/** Checks that an OAuth2 outgoing method either shares a matching incoming connection or names its own integration. */
function checkOutgoingMethod(config: z.output<typeof queueConfigObjectSchema>, context: z.RefinementCtx): void {
  const outgoing = config.outgoing;
  if (outgoing === undefined || outgoing === null || outgoing.protocol === 'smtp') return;

  if (outgoing.useSameMethodAsIncoming) {
    const expected = sameMethodOutgoing[config.incoming.protocol];
    if (expected !== outgoing.protocol) {
      context.addIssue({
        code: 'custom',
        path: ['outgoing', 'useSameMethodAsIncoming'],
        message: `cannot share incoming protocol "${config.incoming.protocol}" with outgoing protocol "${outgoing.protocol}": ${expected === undefined ? 'the incoming side has no OAuth2 connection' : `use outgoing protocol "${expected}"`}, or set useSameMethodAsIncoming to false and name an integration`,
      });
    }
    if (outgoing.integration !== undefined) {
      context.addIssue({ code: 'custom', path: ['outgoing', 'integration'], message: 'must be left out when useSameMethodAsIncoming is true: the incoming integration is used' });
    }
    return;
  }

  if (outgoing.integration === undefined) {
    context.addIssue({ code: 'custom', path: ['outgoing', 'integration'], message: 'is missing: name an integration, or set useSameMethodAsIncoming to true to share the incoming connection' });
  }
  if (outgoing.protocol === 'smtp-oauth2' && outgoing.provider === undefined) {
    context.addIssue({ code: 'custom', path: ['outgoing', 'provider'], message: 'is missing: give "microsoft" or "google", or set useSameMethodAsIncoming to true' });
  }
}

/** The queue file schema; protocols a file leaves out are filled in by `withDefaultProtocols` first. */
export const queueConfigSchema = z.preprocess(withDefaultProtocols, queueConfigObjectSchema);

/** A queue file as written; `incoming.protocol` and `outgoing.protocol` may be left out. */
export type QueueConfigInput = Omit<z.input<typeof queueConfigObjectSchema>, 'incoming' | 'outgoing'> & {
  incoming: DistributiveOptional<z.input<typeof incomingSchema>, 'protocol'>;
  outgoing?: DistributiveOptional<z.input<typeof outgoingSchema>, 'protocol'> | null;
};

type DistributiveOptional<T, K extends PropertyKey> = T extends unknown ? Omit<T, K & keyof T> & Partial<Pick<T, K & keyof T>> : never;

/** The settings of an IMAP mailbox read with a password. */
export type ImapIncomingConfig = z.output<typeof imapIncomingSchema>;

type ParsedQueueConfig = z.output<typeof queueConfigObjectSchema>;
type SmtpOutgoing = z.output<typeof smtpOutgoingSchema>;

/**
 * A validated queue file. The SMTP outgoing member may lack `protocol`, so code that builds a
 * config by hand without it still compiles. A missing protocol means `smtp`.
 */
export type QueueConfig = Omit<ParsedQueueConfig, 'outgoing'> & {
  outgoing?: Exclude<ParsedQueueConfig['outgoing'], SmtpOutgoing | null | undefined> | (Omit<SmtpOutgoing, 'protocol'> & { protocol?: 'smtp' }) | null;
};

/** Validates a parsed JSON document; returns the config or one message per bad field. */
export function validateQueueConfig(document: unknown): { config: QueueConfig; errors: [] } | { config: null; errors: string[] } {
  const result = queueConfigSchema.safeParse(document);
  if (result.success) {
    return { config: result.data, errors: [] };
  }
  return { config: null, errors: describeIssues(result.error.issues) };
}

export function defaultImapPort(ssl: boolean): number {
  return ssl ? 993 : 143;
}

export function defaultPop3Port(ssl: boolean): number {
  return ssl ? 995 : 110;
}

/** The provider's IMAP and SMTP hosts, used when an OAuth2 file gives no host. */
export const providerMailHosts: Record<OAuthProviderName, { imap: string; smtp: string }> = {
  microsoft: { imap: 'outlook.office365.com', smtp: 'smtp.office365.com' },
  google: { imap: 'imap.gmail.com', smtp: 'smtp.gmail.com' },
};

/** Returns the sender address used when the file gives none: the incoming user if it is a mail address, else null. */
export function defaultSenderAddress(config: Pick<QueueConfig, 'incoming'>): string | null {
  const user = config.incoming.user.trim();
  return isEmailAddress(user) ? user : null;
}

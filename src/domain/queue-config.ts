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
    protocol: z.literal('imap').default('imap'),
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

export const queueConfigSchema = z
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
    incoming: imapIncomingSchema,

    // Outgoing mail. Every field is optional so queue files written before outgoing mail stay valid.
    outgoing: smtpOutgoingSchema.nullable().optional(),
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
  });

export type QueueConfigInput = z.input<typeof queueConfigSchema>;
export type QueueConfig = z.output<typeof queueConfigSchema>;

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

/** Returns the sender address used when the file gives none: the incoming user if it is a mail address, else null. */
export function defaultSenderAddress(config: Pick<QueueConfig, 'incoming'>): string | null {
  const user = config.incoming.user.trim();
  return isEmailAddress(user) ? user : null;
}

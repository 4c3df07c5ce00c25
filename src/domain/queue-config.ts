import { z } from 'zod';

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
  })
  .strict();

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
  })
  .strict();

export type QueueConfigInput = z.input<typeof queueConfigSchema>;
export type QueueConfig = z.output<typeof queueConfigSchema>;

/** Validates a parsed JSON document; returns the config or one message per bad field. */
export function validateQueueConfig(document: unknown): { config: QueueConfig; errors: [] } | { config: null; errors: string[] } {
  const result = queueConfigSchema.safeParse(document);
  if (result.success) {
    return { config: result.data, errors: [] };
  }
  const errors = result.error.issues.map((issue) => {
    const field = issue.path.length > 0 ? issue.path.join('.') : '(document)';
    return `${field}: ${issue.message}`;
  });
  return { config: null, errors };
}

export function defaultImapPort(ssl: boolean): number {
  return ssl ? 993 : 143;
}

import { z } from 'zod';

/**
 * Process configuration from the environment. Each entry point validates only
 * what it needs, so `mailqueue queue list` works without a Temporal address.
 */

const environmentSchema = z.object({
  /** PostgreSQL connection string, e.g. postgres://user:pass@host:5432/mailqueue. */
  DATABASE_URL: z.string().min(1).optional(),
  /** Temporal frontend host:port. */
  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /** 32-byte key for secrets at rest: 64 hex characters or base64. */
  MAILQUEUE_SECRET_KEY: z.string().min(1).optional(),
  /** Folder for the dev stack's state (Temporal database file, PostgreSQL data, secret key). */
  MAILQUEUE_VAR_DIR: z.string().min(1).optional(),
});

export type Environment = z.infer<typeof environmentSchema>;

export function readEnvironment(env: NodeJS.ProcessEnv = process.env): Environment {
  const result = environmentSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`Invalid environment: ${problems.join('; ')}`);
  }
  return result.data;
}

/** Returns the variable's value, or throws an error with `hint` on how to set it. */
export function requireSetting(env: Environment, name: 'DATABASE_URL' | 'TEMPORAL_ADDRESS', hint: string): string {
  const value = env[name];
  if (value === undefined) {
    throw new Error(`${name} is not set: ${hint}`);
  }
  return value;
}

/** The Temporal task queue every mailqueue worker polls. */
export const TASK_QUEUE = 'mailqueue';

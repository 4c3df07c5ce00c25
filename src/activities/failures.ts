import { ApplicationFailure } from '@temporalio/common';
import { FailureType, isRetryable, MailqueueError } from '../errors.js';

/**
 * Converts any error thrown inside an activity into an ApplicationFailure whose
 * `type` comes from FailureType, so the workflow's retry policy and `status` see a
 * stable vocabulary. Unknown errors are retryable ProtocolErrors.
 */
export function toApplicationFailure(error: unknown): ApplicationFailure {
  if (error instanceof ApplicationFailure) {
    return error;
  }
  if (error instanceof MailqueueError) {
    return ApplicationFailure.create({
      type: error.type,
      message: error.message,
      nonRetryable: !isRetryable(error.type),
      details: [error.details],
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return ApplicationFailure.create({ type: FailureType.ProtocolError, message, nonRetryable: false });
}

/** Runs an activity body and translates what it throws. */
export async function translateFailures<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw toApplicationFailure(error);
  }
}

import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { FailureType, MailqueueError, type FailureTypeName } from '../errors.js';

/**
 * The one error body of the HTTP API: `{ error: { code, message, field?, details? } }`.
 * `code` is stable and meant for programs. `message` is written for a person and names
 * the fix. `field` names the request part at fault, such as `body.incoming.port`.
 */

export const ErrorCode = {
  Unauthorized: 'unauthorized',
  Forbidden: 'forbidden',
  NotFound: 'not_found',
  ValidationFailed: 'validation_failed',
  Conflict: 'conflict',
  ConsentRequired: 'consent_required',
  UnsupportedMediaType: 'unsupported_media_type',
  PayloadTooLarge: 'payload_too_large',
  ServiceUnavailable: 'service_unavailable',
  Internal: 'internal_error',
} as const;

export type ErrorCodeName = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ApiErrorBody {
  error: {
    code: ErrorCodeName;
    message: string;
    field?: string;
    details?: Record<string, unknown>;
  };
}

/** An error that a handler throws; the error handler sends it with `status` and the standard error body. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: ErrorCodeName;
  readonly field: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(status: number, code: ErrorCodeName, message: string, options: { field?: string; details?: Record<string, unknown> } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = options.field;
    this.details = options.details;
  }

  body(): ApiErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.field === undefined ? {} : { field: this.field }),
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

/**
 * Builds the 404 of every record lookup. A record the caller may not see gets exactly
 * this body too, so a response never reveals whether a forbidden record exists.
 */
export function notFound(what: string): ApiError {
  return new ApiError(404, ErrorCode.NotFound, `${what} does not exist, or you may not see it: check the number, or list what you can see`);
}

/** JSON schema of the error body, referenced by every route's error responses. */
export const errorBodySchema = {
  $id: 'ErrorBody',
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.values(ErrorCode) },
        message: { type: 'string' },
        field: { type: 'string' },
        details: { type: 'object', additionalProperties: true },
      },
    },
  },
} as const;

/** HTTP status and error code for each MailqueueError type. */
const failureStatus: Record<FailureTypeName, { status: number; code: ErrorCodeName }> = {
  [FailureType.InvalidConfiguration]: { status: 400, code: ErrorCode.ValidationFailed },
  [FailureType.QueueNotFound]: { status: 404, code: ErrorCode.NotFound },
  [FailureType.SecretKeyInvalid]: { status: 503, code: ErrorCode.ServiceUnavailable },
  [FailureType.AuthenticationFailed]: { status: 503, code: ErrorCode.ServiceUnavailable },
  [FailureType.CertificateRejected]: { status: 503, code: ErrorCode.ServiceUnavailable },
  [FailureType.ConnectionFailed]: { status: 503, code: ErrorCode.ServiceUnavailable },
  [FailureType.Timeout]: { status: 503, code: ErrorCode.ServiceUnavailable },
  [FailureType.ProtocolError]: { status: 503, code: ErrorCode.ServiceUnavailable },
  [FailureType.FolderNotFound]: { status: 400, code: ErrorCode.ValidationFailed },
  [FailureType.PermanentDeliveryFailure]: { status: 503, code: ErrorCode.ServiceUnavailable },
  [FailureType.TemporaryDeliveryFailure]: { status: 503, code: ErrorCode.ServiceUnavailable },
  [FailureType.ReconnectRequired]: { status: 503, code: ErrorCode.ServiceUnavailable },
  // Waiting does not help: a tenant admin must grant the permissions first.
  [FailureType.ConsentRequired]: { status: 403, code: ErrorCode.ConsentRequired },
  [FailureType.NotPermitted]: { status: 403, code: ErrorCode.Forbidden },
  [FailureType.StateConflict]: { status: 409, code: ErrorCode.Conflict },
  [FailureType.ActivityNotFound]: { status: 404, code: ErrorCode.NotFound },
};

/**
 * Turns a MailqueueError into the API error. Its `errors` list, and for an admin-approval
 * response the `permissions` to grant and the `adminConsentUrl`, go to details.
 */
export function fromMailqueueError(error: MailqueueError): ApiError {
  const mapped = failureStatus[error.type] ?? { status: 500, code: ErrorCode.Internal };
  const { errors, permissions, adminConsentUrl } = error.details;
  const consent = error.type === FailureType.ConsentRequired ? { permissions, adminConsentUrl } : {};
  return new ApiError(mapped.status, mapped.code, error.message, {
    details: { type: error.type, ...(Array.isArray(errors) ? { errors } : {}), ...consent },
  });
}

interface AjvIssue {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** JSON pointer `/incoming/port` to dotted `incoming.port`; `~1` and `~0` unescaped. */
function pointerToPath(pointer: string): string[] {
  return pointer
    .split('/')
    .slice(1)
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Returns the field an ajv issue is about: for a missing or unknown property, that property itself. */
function issueField(context: string, issue: AjvIssue): string {
  const path = pointerToPath(issue.instancePath ?? '');
  const missing = issue.params?.missingProperty;
  const extra = issue.params?.additionalProperty;
  if (issue.keyword === 'required' && typeof missing === 'string') path.push(missing);
  if (issue.keyword === 'additionalProperties' && typeof extra === 'string') path.push(extra);
  if (issue.keyword === 'discriminator' && typeof issue.params?.tag === 'string') path.push(issue.params.tag);
  return [context, ...path].join('.');
}

function issueMessage(issue: AjvIssue): string {
  const allowed = issue.params?.allowedValues;
  if (issue.keyword === 'enum' && Array.isArray(allowed)) return `must be one of ${allowed.map((value) => JSON.stringify(value)).join(', ')}`;
  if (issue.keyword === 'additionalProperties') return 'is not a known field: remove it or check its spelling';
  if (issue.keyword === 'required') return 'is missing';
  if (issue.keyword === 'discriminator') {
    const value = issue.params?.tagValue;
    const shown = value === undefined ? 'missing' : JSON.stringify(value);
    return `is ${shown}, which names no known protocol: use one listed in docs/queue-config.md`;
  }
  return issue.message ?? 'is invalid';
}

/** Builds the 400 response of a schema validation failure: the first field on top, every issue in details. */
export function fromValidation(context: string, issues: AjvIssue[]): ApiError {
  const errors = issues.map((issue) => ({ field: issueField(context, issue), message: issueMessage(issue) }));
  const first = errors[0] ?? { field: context, message: 'is invalid' };
  return new ApiError(400, ErrorCode.ValidationFailed, `${first.field} ${first.message}`, { field: first.field, details: { errors } });
}

/** Builds the 400 response of issues found after the schema, such as by the queue file's zod schema; `field` is dotted. */
export function fromFieldIssues(issues: Array<{ field: string; message: string }>): ApiError {
  const first = issues[0] ?? { field: 'body', message: 'is invalid' };
  return new ApiError(400, ErrorCode.ValidationFailed, `${first.field} ${first.message}`, { field: first.field, details: { errors: issues } });
}

function isFastifyError(error: unknown): error is FastifyError {
  return error instanceof Error && typeof (error as Partial<FastifyError>).code === 'string';
}

/** Maps Fastify's own errors (bad JSON, wrong content type, body too large) to the error body. */
function fromFastifyError(error: FastifyError): ApiError | null {
  if (error.validation) {
    return fromValidation(error.validationContext ?? 'body', error.validation as AjvIssue[]);
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(415, ErrorCode.UnsupportedMediaType, 'The request body must be JSON: send Content-Type: application/json');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, ErrorCode.PayloadTooLarge, 'The request body is too large: send less, or attach fewer or smaller files');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError(400, ErrorCode.ValidationFailed, 'body is empty although Content-Type is application/json: send a JSON document, or drop the header', { field: 'body' });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiError(400, ErrorCode.ValidationFailed, `body is not valid JSON: ${error.message}`, { field: 'body' });
    default:
      break;
  }
  const status = error.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return new ApiError(status, status === 404 ? ErrorCode.NotFound : ErrorCode.ValidationFailed, error.message);
  }
  return null;
}

/** Names of Temporal client errors that mean the server cannot be reached now. */
const unavailableErrorNames = new Set(['ServiceError', 'TransportError', 'ConnectionError']);

/**
 * Fastify error handler: every error becomes the standard body. Unexpected errors are
 * logged with the request id and returned as 500 with a message that names no internals.
 */
export function createErrorHandler(logger: Logger) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply): void => {
    let apiError: ApiError | null = null;
    if (error instanceof ApiError) apiError = error;
    else if (error instanceof MailqueueError) apiError = fromMailqueueError(error);
    else if (isFastifyError(error)) apiError = fromFastifyError(error);

    if (apiError === null && error instanceof Error && unavailableErrorNames.has(error.name)) {
      logger.warn({ err: error, requestId: request.id, route: request.routeOptions.url }, 'api request found a dependency unavailable');
      apiError = new ApiError(503, ErrorCode.ServiceUnavailable, 'Temporal cannot be reached right now: try again shortly, and check that the Temporal server runs');
    }
    if (apiError === null) {
      logger.error({ err: error, requestId: request.id, route: request.routeOptions.url }, 'api request failed');
      apiError = new ApiError(500, ErrorCode.Internal, `The server failed on this request; the log has the details under request id ${request.id}`);
    }

    if (apiError.status < 500) {
      request.log.info({ requestId: request.id, route: request.routeOptions.url, status: apiError.status, code: apiError.code, field: apiError.field }, 'api request rejected');
    }
    if (apiError.status === 401) reply.header('WWW-Authenticate', 'Bearer realm="mailqueue"');
    void reply.status(apiError.status).send(apiError.body());
  };
}

/**
 * Every kind of problem the service reports, declared once (RFC 9457).
 * `type` is a stable URN clients can switch on; `title` never varies per occurrence.
 */
export const PROBLEMS = {
  malformedJson: { status: 400, title: 'The body is not valid JSON' },
  invalidRequest: { status: 400, title: 'The request does not match the schema' },
  invalidTensor: { status: 400, title: 'A tensor is malformed' },
  nonFiniteInput: { status: 400, title: 'A tensor holds a non-finite value' },
  shapeMismatch: { status: 400, title: 'Tensor shapes do not fit' },
  invalidParam: { status: 400, title: 'A parameter is out of range' },
  unknownLayer: { status: 404, title: 'No such layer' },
  unknownRule: { status: 404, title: 'No such update rule' },
  notFound: { status: 404, title: 'No such route' },
  methodNotAllowed: { status: 405, title: 'Method not allowed' },
  bodyTooLarge: { status: 413, title: 'The body is too large' },
  tooManyElements: { status: 413, title: 'The request holds too many tensor elements' },
  unsupportedMediaType: { status: 415, title: 'Unsupported content type' },
  nonFiniteResult: { status: 422, title: 'The result is not finite' },
  rateLimited: { status: 429, title: 'Too many requests' },
  overloaded: { status: 503, title: 'The service is overloaded' },
  shuttingDown: { status: 503, title: 'The service is shutting down' },
  timeout: { status: 504, title: 'The computation ran past its time limit' },
  unauthorized: { status: 401, title: 'A bearer token is required' },
  internal: { status: 500, title: 'Internal error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemKind = keyof typeof PROBLEMS;

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
export const problemType = (kind: ProblemKind) => `urn:layerserve:problem:${kebab(kind)}`;

/** One located issue: `path` is a dotted path into the request body, e.g. `inputs.w` or `params.stride`. */
export interface FieldError {
  path: string;
  message: string;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

/** A problem decided by our code. Thrown anywhere on the main thread; the error handler renders it. */
export class ProblemError extends Error {
  readonly kind: ProblemKind;
  readonly status: number;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string>;
  readonly extensions: Record<string, unknown>;

  constructor(
    kind: ProblemKind,
    detail: string,
    options: { errors?: FieldError[]; headers?: Record<string, string>; extensions?: Record<string, unknown> } = {},
  ) {
    super(detail);
    this.name = 'ProblemError';
    this.kind = kind;
    this.status = PROBLEMS[kind].status;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
    this.extensions = options.extensions ?? {};
  }

  /** A problem about one field: the detail names the path, errors[] carries it. */
  static at(kind: ProblemKind, path: string, message: string): ProblemError {
    return new ProblemError(kind, `${path}: ${message}`, { errors: [{ path, message }] });
  }

  /** The same problem with `context: ` in front of the detail (e.g. the layer name), once. */
  inContext(context: string): ProblemError {
    if (this.message.startsWith(`${context}: `)) return this;
    return new ProblemError(this.kind, `${context}: ${this.message}`, {
      errors: this.errors,
      headers: this.headers,
      extensions: this.extensions,
    });
  }

  toBody(instance?: string): ProblemBody {
    const body: ProblemBody = {
      type: problemType(this.kind),
      title: PROBLEMS[this.kind].title,
      status: this.status,
      detail: this.message,
    };
    if (instance) body.instance = instance;
    if (this.errors) body.errors = this.errors;
    return Object.assign(body, this.extensions);
  }
}

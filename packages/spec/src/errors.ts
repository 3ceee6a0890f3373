const MARKER = Symbol.for('lic-backdoor.error');

/**
 * Base class of the toolkit's errors: a `code` owned by the package that throws it and a message
 * that names the problem. Recognised with `LicBackdoorError.isInstance(e)`, which checks a
 * `Symbol.for` marker, so two installed copies of this package still agree.
 */
export class LicBackdoorError<Code extends string = string> extends Error {
  readonly [MARKER] = true;
  constructor(
    readonly code: Code,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  static isInstance(error: unknown): error is LicBackdoorError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[MARKER] === true;
  }
}


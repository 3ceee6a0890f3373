import { LicBackdoorError } from '@lic-backdoor/spec';

export { LicBackdoorError };

/**
 * Error codes of this package's errors. Every package owns its codes (a union of upper-case names
 * exported beside its errors, e.g. `EntropyErrorCode`); they share the base class of `@lic-backdoor/spec`.
 */
export type CoreErrorCode =
  | 'NO_SUCH_PLUGIN'
  | 'DUPLICATE_PLUGIN'
  | 'INVALID_PLUGIN_OPTIONS'
  | 'INVALID_PLUGIN_MODULE'
  | 'IMAGE_READ'
  | 'IMAGE_WRITE'
  | 'DATASET'
  | 'SAFETENSORS'
  | 'BACKEND'
  | 'KERNEL_REGISTRATION';

export class NoSuchPluginError extends LicBackdoorError<CoreErrorCode> {
  constructor(
    readonly pluginId: string,
    readonly availableIds: readonly string[],
  ) {
    super(
      'NO_SUCH_PLUGIN',
      `No plugin '${pluginId}' is registered. Available: ${availableIds.length ? availableIds.join(', ') : '(none)'}`,
    );
  }
}

export class DuplicatePluginError extends LicBackdoorError<CoreErrorCode> {
  constructor(readonly pluginId: string) {
    super('DUPLICATE_PLUGIN', `A plugin '${pluginId}' is already registered`);
  }
}

export class InvalidPluginOptionsError extends LicBackdoorError<CoreErrorCode> {
  constructor(
    readonly pluginId: string,
    readonly issues: readonly { path: string; message: string }[],
  ) {
    super(
      'INVALID_PLUGIN_OPTIONS',
      `Invalid options for '${pluginId}': ${issues.map((i) => `${i.path || '(options)'}: ${i.message}`).join('; ')}`,
    );
  }
}

export class InvalidPluginModuleError extends LicBackdoorError<CoreErrorCode> {
  constructor(
    readonly moduleSpecifier: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super('INVALID_PLUGIN_MODULE', `Plugin module '${moduleSpecifier}': ${reason}`, options);
  }
}

export class ImageReadError extends LicBackdoorError<CoreErrorCode> {
  constructor(
    readonly file: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super('IMAGE_READ', `Cannot read image '${file}': ${reason}`, options);
  }
}

export class ImageWriteError extends LicBackdoorError<CoreErrorCode> {
  constructor(
    readonly file: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super('IMAGE_WRITE', `Cannot write image '${file}': ${reason}`, options);
  }
}

export class DatasetError extends LicBackdoorError<CoreErrorCode> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DATASET', message, options);
  }
}

export class SafetensorsError extends LicBackdoorError<CoreErrorCode> {
  constructor(
    readonly file: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super('SAFETENSORS', `Safetensors '${file}': ${reason}`, options);
  }
}

export class BackendError extends LicBackdoorError<CoreErrorCode> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BACKEND', message, options);
  }
}

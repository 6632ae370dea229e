/** An error in configuration or a command, with a code (as Node's system errors have). */
export class DataplaneError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'DataplaneError';
  }
}

/** Runs a dataplane call for a command: a DataplaneError becomes the command's error (its message). */
import { DataplaneError } from '../dataplane/errors.js';
import { CommandError } from './registry.js';

export function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof DataplaneError) throw new CommandError(err.message);
    throw err;
  }
}

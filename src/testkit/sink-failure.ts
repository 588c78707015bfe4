// For sink tests: the SinkError a send (or check) failed with; a success or another error fails the test.
import { SinkError } from '../core/errors.js';

export async function sinkFailure(p: Promise<unknown> | undefined): Promise<SinkError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SinkError) return err;
    throw new Error(`expected a SinkError, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`, { cause: err });
  }
  throw new Error('expected a SinkError, but the call succeeded');
}

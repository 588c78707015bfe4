// Asking before a destructive `api` action: a y/N prompt on a terminal, `--yes` to skip it, a refusal when nobody can answer.
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { UsageError } from '../../core/errors.js';

export interface ConfirmIo {
  stdin: Readable & { isTTY?: boolean };
  /** Where the question is asked (stderr: stdout stays the command's data). */
  stderr: Writable;
  signal: AbortSignal;
}

/**
 * True when the action may go ahead: `yes` given, or the person at the terminal answered y/yes. Throws a UsageError
 * (exit 2) when stdin is not a terminal and `yes` was not given: a script must say --yes, never hang on a prompt.
 */
export async function confirm(question: string, yes: boolean, io: ConfirmIo): Promise<boolean> {
  if (yes) return true;
  if (io.stdin.isTTY !== true) {
    throw new UsageError(`${question}: refusing without --yes, because stdin is not a terminal to ask on`);
  }
  const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: false });
  try {
    io.stderr.write(`${question}? [y/N] `);
    const answer = await new Promise<string>((resolve) => {
      const onAbort = (): void => resolve('');
      io.signal.addEventListener('abort', onAbort, { once: true });
      rl.once('line', (line) => {
        io.signal.removeEventListener('abort', onAbort);
        resolve(line);
      });
      rl.once('close', () => resolve(''));
    });
    return /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    rl.close();
  }
}

// What a command gets from main.ts: its output streams and a signal that fires on SIGINT/SIGTERM.
import type { Writable } from 'node:stream';

export interface CommandIo {
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  /** Fires when the process is asked to stop (SIGINT/SIGTERM). */
  signal: AbortSignal;
}

export function println(out: Writable, text = ''): void {
  out.write(text + '\n');
}

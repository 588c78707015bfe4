// What a command gets from main.ts: its output streams and a signal that fires on SIGINT/SIGTERM.
import type { Readable, Writable } from 'node:stream';
import { redactText } from '../telemetry/redact.js';

export interface CommandIo {
  /** Standard input, for commands that read records (`normalize`). */
  stdin?: Readable;
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  /** Fires when the process is asked to stop (SIGINT/SIGTERM). */
  signal: AbortSignal;
}

/** Writes one line; a configured secret value in it (an API error quoting the request) is redacted first. */
export function println(out: Writable, text = ''): void {
  out.write(redactText(text) + '\n');
}

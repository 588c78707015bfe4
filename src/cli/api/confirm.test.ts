// The confirmation before destructive `api` actions: asks on a terminal, --yes skips it, refuses without a terminal.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../core/errors.js';
import { confirm } from './confirm.js';

function fakeIo(tty: boolean): { stdin: PassThrough & { isTTY: boolean }; stderr: PassThrough; asked: () => string; signal: AbortSignal } {
  const stdin = Object.assign(new PassThrough(), { isTTY: tty });
  const stderr = new PassThrough();
  let text = '';
  stderr.setEncoding('utf8').on('data', (d: string) => (text += d));
  return { stdin, stderr, asked: () => text, signal: new AbortController().signal };
}

describe('confirm', () => {
  it('asks on a terminal and goes ahead on y', async () => {
    const io = fakeIo(true);
    const answer = confirm('delete user a@corp.example', false, io);
    io.stdin.write('y\n');
    expect(await answer).toBe(true);
    expect(io.asked()).toBe('delete user a@corp.example? [y/N] ');
  });

  it('takes yes in any case, and anything else (an empty line) as no', async () => {
    const yes = fakeIo(true);
    const a = confirm('x', false, yes);
    yes.stdin.write('YES\n');
    expect(await a).toBe(true);
    const no = fakeIo(true);
    const b = confirm('x', false, no);
    no.stdin.write('\n');
    expect(await b).toBe(false);
    const closed = fakeIo(true);
    const c = confirm('x', false, closed);
    closed.stdin.end();
    expect(await c).toBe(false);
  });

  it('with --yes goes ahead without asking, terminal or not', async () => {
    const io = fakeIo(false);
    expect(await confirm('x', true, io)).toBe(true);
    expect(io.asked()).toBe('');
  });

  it('refuses with a usage error (exit 2) when stdin is not a terminal and --yes is missing', async () => {
    const io = fakeIo(false);
    const err = await confirm('release message 42', false, io).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).code).toBe('CLI_USAGE');
    expect((err as UsageError).message).toContain('release message 42: refusing without --yes');
    expect(io.asked()).toBe('');
  });
});

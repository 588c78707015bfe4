// Reading raw records for `normalize`: NDJSON, objects run together, pretty-printed documents, and broken lines.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { printable } from './io.js';
import { jsonValues, normalizeStream, type NormalizeSummary, type ScanWork } from './normalize.js';

const MAIN = join(import.meta.dirname, '../../dist/cli/main.js');

async function read(text: string, work?: ScanWork): Promise<{ line: number; ok: boolean; value?: unknown }[]> {
  async function* lines(): AsyncGenerator<string> {
    for (const l of text.split('\n')) yield l;
  }
  const out: { line: number; ok: boolean; value?: unknown }[] = [];
  for await (const item of jsonValues(lines(), work === undefined ? {} : { work })) out.push(item.error === undefined ? { line: item.line, ok: true, value: item.value } : { line: item.line, ok: false });
  return out;
}

/** Runs `normalize` in this process over `input`; returns what it printed. */
async function normalizeText(input: string | Readable, signal?: AbortSignal, onOutput?: (chunk: string) => void): Promise<{ stdout: string; stderr: string; summary: NormalizeSummary }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    onOutput?.(d);
  });
  err.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const source = typeof input === 'string' ? Readable.from([input]) : input;
  const summary = await normalizeStream(source, out, err, 'siem', 'ecs', 'acme', signal);
  return { stdout, stderr, summary };
}

const V2_RECEIPT = { _offset: 1, _partition: 1, accountId: 'C1', action: 'Acc', aggregateId: 'agg', direction: 'Inbound', processingId: 'p', senderEnvelope: 'a@vendor.example', recipients: 'ops@corp.example', subject: 'Invoice', subtype: 'Acc', timestamp: 1709287331482, type: 'receipt' };

describe('jsonValues', () => {
  it('reads one value per line, skipping blank lines', async () => {
    expect(await read('{"a":1}\n\n[2]\n')).toEqual([
      { line: 1, ok: true, value: { a: 1 } },
      { line: 3, ok: true, value: [2] },
    ]);
  });

  it('splits objects run together on one line, with or without commas', async () => {
    expect(await read('{"a":"x}{"}{"b":2},{"c":3}')).toEqual([
      { line: 1, ok: true, value: { a: 'x}{' } },
      { line: 1, ok: true, value: { b: 2 } },
      { line: 1, ok: true, value: { c: 3 } },
    ]);
  });

  it('reads a document pretty-printed over several lines', async () => {
    expect(await read('{\n  "a": [1,\n 2],\n  "b": "}"\n}\n{"c":1}')).toEqual([
      { line: 1, ok: true, value: { a: [1, 2], b: '}' } },
      { line: 6, ok: true, value: { c: 1 } },
    ]);
  });

  it('reports a cut line without losing the good lines after it', async () => {
    expect(await read('{"a":1,"b":\n{"c":1}\nnot json\n{"d":[1,')).toEqual([
      { line: 1, ok: false },
      { line: 2, ok: true, value: { c: 1 } },
      { line: 3, ok: false },
      { line: 4, ok: false },
    ]);
  });

  // Bad input of every shape that made the reader go back over what it had already read (13.5 s for 4,000 lines).
  const HOSTILE: Record<string, (n: number) => string> = {
    'lines opening { and never closing': (n) => Array.from({ length: n }, (_, i) => `{"id":"g-${i}","x":`).join('\n'),
    'lines opening [ and never closing': (n) => Array.from({ length: n }, (_, i) => `[garbage ${i}`).join('\n'),
    'opening lines, then as many closing ones': (n) => [...Array.from({ length: n }, () => '{x'), ...Array.from({ length: n }, () => '}')].join('\n'),
    'strings never closed': (n) => Array.from({ length: n }, (_, i) => `{"a":"${i}`).join('\n'),
    'NDJSON with every tenth line cut': (n) => Array.from({ length: n }, (_, i) => (i % 10 === 0 ? `{"id":${i},"pad":"` : JSON.stringify({ id: i }))).join('\n'),
  };

  for (const [shape, make] of Object.entries(HOSTILE)) {
    it(`looks at each character a bounded number of times: ${shape}`, async () => {
      for (const n of [400, 4000]) {
        const text = make(n) + '\n{"id":"last"}\n';
        const work: ScanWork = { chars: 0 };
        const got = await read(text, work);
        // Each character is scanned or parsed at least once and at most a few times, however many lines there are.
        expect(work.chars).toBeGreaterThanOrEqual(text.length - n * 2);
        expect(work.chars).toBeLessThanOrEqual(4 * text.length);
        expect(got.at(-1)).toEqual({ line: text.split('\n').length - 1, ok: true, value: { id: 'last' } });
      }
    });
  }

  it('a value over several lines stops at 16 MiB; the lines inside are read again one by one', async () => {
    const good = JSON.stringify({ id: 1, pad: 'p'.repeat(1000) });
    const lines = ['{"cut":', ...Array.from({ length: 17_000 }, () => good), '{"id":"after"}'];
    const work: ScanWork = { chars: 0 };
    const got = await read(lines.join('\n'), work);
    expect(got[0]).toEqual({ line: 1, ok: false });
    expect(got.slice(1).every((g) => g.ok)).toBe(true);
    expect(got).toHaveLength(lines.length);
    expect(got.at(-1)).toEqual({ line: lines.length, ok: true, value: { id: 'after' } });
    expect(work.chars).toBeLessThanOrEqual(4 * lines.join('\n').length);
  });

  it('still reads a pretty-printed value after a multi-line value that closed but did not parse', async () => {
    expect(await read('{\n x\n}\n{\n "a": 1\n}')).toEqual([
      { line: 1, ok: false },
      { line: 2, ok: false },
      { line: 3, ok: false },
      { line: 4, ok: true, value: { a: 1 } },
    ]);
  });
});

describe('normalizeStream on hostile input', () => {
  it('gets through megabytes of unclosed lines and still finds the good record at the end', async () => {
    const garbage = Array.from({ length: 100_000 }, (_, i) => `{"id":"g-${i}","x":[`).join('\n');
    const { stdout, stderr } = await normalizeText(`${garbage}\n${JSON.stringify(V2_RECEIPT)}\n`);
    expect(stdout.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^line 1: not JSON \(an unfinished JSON value/m);
    expect(stderr).toMatch(/^line 100000: not JSON/m);
  }, 20_000);

  it('splits lines on \\n only (CRLF too): U+0085, U+2028 and U+2029 inside a line stay in it (node:readline 22+ splits there)', async () => {
    const { stdout, stderr, summary } = await normalizeText(`${JSON.stringify({ ...V2_RECEIPT, subject: 'b\u0085c\u2028d\u2029e' })}\r\n${JSON.stringify(V2_RECEIPT)}`);
    expect(stderr).toBe('');
    expect(summary.events).toBe(2);
    expect(stdout.trim().split('\n')).toHaveLength(2);
  });

  it('escapes control characters and other unprintables of bad lines on stderr', async () => {
    const nasty = '\u001b[2J\u001b]0;owned\u0007 \u0085\u2028\u202e\u0000 tail';
    const input = [
      `not json ${nasty}`,
      `{"a": 1 ${nasty}`,
      `{"a": 1} ${nasty}`,
      JSON.stringify([`never ${nasty}`]),
    ].join('\n');
    const { stderr } = await normalizeText(input + '\n');
    expect(stderr).toMatch(/^line 1: /m);
    expect(stderr).toMatch(/^line 4: /m);
    expect(stderr).toContain('\\u001b[2J\\u001b]0;owned\\u0007 \\u0085\\u2028\\u202e\\u0000 tail');
    // Nothing but printable text and the newlines that end each report.
    const raw = [...stderr].map((ch) => ch.codePointAt(0) ?? 0).filter((c) => c !== 10 && (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029 || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069)));
    expect(raw).toEqual([]);
  });

  it('stops at the next value once the signal fires, and says so', async () => {
    const stop = new AbortController();
    let sent = 0;
    const long = new Readable({
      read() {
        sent += 1;
        // Long enough that reading to the end is not mistaken for stopping.
        this.push(sent > 20_000 ? null : `${JSON.stringify({ ...V2_RECEIPT, _offset: sent })}\nnot json\n`);
      },
    });
    let written = 0;
    const { stdout, summary } = await normalizeText(long, stop.signal, (chunk) => {
      written += chunk.split('\n').length - 1;
      if (written >= 40) stop.abort();
    });
    expect(summary.interrupted).toBe(true);
    expect(summary.events).toBeGreaterThanOrEqual(40);
    // Stopped long before the end of the input (the reader pulls only what it parses).
    expect(summary.events).toBeLessThanOrEqual(sent);
    expect(sent).toBeLessThan(20_000);
    expect(stdout.trim().split('\n')).toHaveLength(summary.events);
  });
});

describe('printable', () => {
  it('keeps text and whole emoji, escapes what a terminal would act on, and says how long a cut text was', () => {
    expect(printable('plain ünïcödé 😀 \\n')).toBe('plain ünïcödé 😀 \\n');
    expect(printable('a\tb\u001b[0m\u009b\ud800x\udc00')).toBe('a\\u0009b\\u001b[0m\\u009b\\ud800x\\udc00');
    expect(printable('abcdef', 3)).toBe('abc… (6 characters)');
    // A cut through an emoji leaves half of it, which is escaped rather than printed.
    expect(printable('ab😀', 3)).toBe('ab\\ud83d… (4 characters)');
  });
});

describe('normalize as a command (npm test builds dist/ first)', () => {
  it('exits promptly with 130 on SIGTERM while busy with an endless stream of bad lines', async () => {
    expect(existsSync(MAIN), 'dist/cli/main.js: run npm run build').toBe(true);
    const child = spawn(process.execPath, [MAIN, 'normalize', '--stream', 'siem'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let alive = true;
    void exited.then(() => {
      alive = false;
      child.stdin.destroy();
    });
    child.stdin.on('error', () => undefined);
    const chunk = Array.from({ length: 2000 }, (_, i) => `{"id":"g-${i}","x":`).join('\n') + '\n';
    let written = 0;
    // Feed it as fast as it reads, for as long as it lives.
    const feed = async (): Promise<void> => {
      while (alive && !child.stdin.destroyed) {
        written += chunk.length;
        if (!child.stdin.write(chunk)) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              child.stdin.off('drain', done).off('close', done);
              resolve();
            };
            child.stdin.on('drain', done).on('close', done);
          });
        }
      }
    };
    const feeding = feed();
    try {
      // Busy with a couple of megabytes (or for a few seconds, whichever comes first) before the signal.
      const busyUntil = Date.now() + 3000;
      while (written < 2_000_000 && alive && Date.now() < busyUntil) await new Promise((r) => setTimeout(r, 20));
      expect(alive).toBe(true);
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(killer);
      await feeding;
      expect(code).toBe(130);
      expect(stderr).toMatch(/^interrupted/m);
      expect(stderr).toMatch(/^normalize: \d+ lines read, 0 events written/m);
    } finally {
      if (alive) child.kill('SIGKILL');
    }
  }, 30_000);
});

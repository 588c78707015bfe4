// A journal appended to by a process killed with SIGKILL mid-loop: cursor and events must still agree.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { Journal } from './journal.js';

const repo = path.resolve(import.meta.dirname, '../..');
const compiled = path.join(repo, 'dist/journal/journal.js');
const child = path.join(import.meta.dirname, 'testdata/append-loop.mjs');
const SIZE = 500;

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'journal-crash-'));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs the child until it reports `batches` more appended batches, then SIGKILLs it right away. */
function appendThenKill(batches: number): Promise<{ start: number; lastReported: number }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, compiled, dir, String(SIZE)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let start = -1;
    let last = 0;
    let killed = false;
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const lines = out.split('\n');
      out = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('start ')) start = Number(line.slice(6));
        else last = Number(line);
      }
      if (!killed && start > 0 && last >= start + batches - 1) {
        killed = true;
        proc.kill('SIGKILL');
      }
    });
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    proc.on('error', reject);
    proc.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ start, lastReported: last });
      else reject(new Error(`child exited with ${code ?? signal}: ${err}`));
    });
  });
}

function check(): number {
  const j = Journal.open({ dir });
  try {
    const cursor = Number(j.getCursor('acme/siem'));
    expect(cursor).toBeGreaterThan(0);
    expect(j.usage().events).toBe(cursor * SIZE);
    expect(j.headSeq()).toBe(cursor * SIZE);
    const db = new Database(path.join(dir, 'journal.sqlite'), { readonly: true });
    try {
      expect(Number(db.prepare('SELECT count(*) FROM events').pluck().get())).toBe(cursor * SIZE);
      expect(Number(db.prepare('SELECT count(*) FROM dedup').pluck().get())).toBe(cursor * SIZE);
      expect(db.prepare('SELECT id FROM events ORDER BY seq DESC LIMIT 1').pluck().get()).toBe(`b${cursor}-e${SIZE - 1}`);
    } finally {
      db.close();
    }
    return cursor;
  } finally {
    j.close();
  }
}

it('keeps cursor and events in agreement after SIGKILL, twice over', async () => {
  if (!fs.existsSync(compiled)) throw new Error(`${compiled} is missing: run \`npx tsc -p tsconfig.build.json\` (npm test does)`);
  const first = await appendThenKill(20);
  expect(first.start).toBe(1);
  const c1 = check();
  expect(c1).toBeGreaterThanOrEqual(first.lastReported);

  const second = await appendThenKill(20);
  expect(second.start).toBe(c1 + 1);
  const c2 = check();
  expect(c2).toBeGreaterThanOrEqual(second.lastReported);
});

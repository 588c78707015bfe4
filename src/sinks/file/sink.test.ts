// File sink against a real filesystem: lines, fsync'd appends, rotation, recreated dirs, clear errors.
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StoredEvent, type OutEvent } from '../../core/contracts.js';
import { SinkError } from '../../core/errors.js';
import { silentLogger } from '../../telemetry/logger.js';
import { FileSink } from './sink.js';

const signal = new AbortController().signal;
let seq = 0;
function ev(n: number, pad = 0): OutEvent[] {
  return Array.from({ length: n }, () => {
    seq += 1;
    return new StoredEvent(seq, `id-${seq}`, 'siem', 'a', '2024-01-01T00:00:00.000Z', Buffer.from(JSON.stringify({ n: seq, pad: 'x'.repeat(pad) })));
  });
}
const lines = (p: string): string[] => readFileSync(p, 'utf8').split('\n').filter(Boolean);

describe('FileSink', () => {
  it('creates missing directories and appends one JSON line per event', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-file-'));
    const path = join(dir, 'a', 'b', 'events.ndjson');
    const sink = new FileSink({ name: 'f', path, max_size: 1 << 20, max_files: 2, fsync: true }, silentLogger());
    await sink.send(ev(3), signal);
    await sink.send(ev(2), signal);
    await sink.close();
    await sink.close();
    const got = lines(path).map((l) => JSON.parse(l) as { n: number });
    expect(got).toHaveLength(5);
    expect(got[4]?.n).toBe(got[0]!.n + 4);
  });

  it('rotates by size and keeps max_files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-file-'));
    const path = join(dir, 'events.ndjson');
    const sink = new FileSink({ name: 'f', path, max_size: 2000, max_files: 2, fsync: false }, silentLogger());
    for (let i = 0; i < 10; i++) await sink.send(ev(1, 900), signal);
    await sink.close();
    expect(existsSync(`${path}.1`)).toBe(true);
    expect(existsSync(`${path}.2`)).toBe(true);
    expect(existsSync(`${path}.3`)).toBe(false);
    for (const p of [path, `${path}.1`, `${path}.2`]) expect(readFileSync(p).length).toBeLessThanOrEqual(2000);
    const total = [path, `${path}.1`, `${path}.2`].reduce((n, p) => n + lines(p).length, 0);
    expect(total).toBe(6);
  });

  it('reopens when the file is moved away (e.g. by logrotate)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-file-'));
    const path = join(dir, 'events.ndjson');
    const sink = new FileSink({ name: 'f', path, max_size: 1 << 20, max_files: 1, fsync: true }, silentLogger());
    await sink.send(ev(2), signal);
    renameSync(path, `${path}.old`);
    await sink.send(ev(3), signal);
    await sink.close();
    expect(lines(`${path}.old`)).toHaveLength(2);
    expect(lines(path)).toHaveLength(3);
  });

  it('fails with a retryable error naming the path when it cannot write, and recovers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-file-'));
    const blocker = join(dir, 'out');
    writeFileSync(blocker, 'not a directory');
    const path = join(blocker, 'events.ndjson');
    const sink = new FileSink({ name: 'f', path, max_size: 1 << 20, max_files: 1, fsync: true }, silentLogger());
    const err = await sink.send(ev(1), signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkError);
    expect((err as SinkError).retryable).toBe(true);
    expect((err as SinkError).message).toContain(path);
    expect((err as SinkError).message).toMatch(/not a directory|EEXIST|ENOTDIR/);
    rmSync(blocker);
    await sink.send(ev(2), signal);
    await sink.close();
    expect(lines(path)).toHaveLength(2);
  });
});

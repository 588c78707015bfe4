// Proves the test search engine is a real OpenSearch: data streams, _bulk create with _ids, 409 on a repeat, 400 without @timestamp.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { engineRequest, pick, startSearchEngine, type RunningSearchEngine } from '../src/testkit/search-engine.js';

const STREAM = 'logs-mimecast.siem-default';

function rssMb(pid: number): number | undefined {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m?.[1] !== undefined ? Math.round(Number(m[1]) / 1024) : undefined;
}

describe('test search engine (real OpenSearch)', () => {
  // Started by the first test rather than in beforeAll: a start-up failure then fails every test with its message
  // (a failed beforeAll would only mark them skipped).
  let starting: Promise<RunningSearchEngine> | undefined;
  const up = async (): Promise<RunningSearchEngine> => {
    if (starting === undefined) {
      starting = startSearchEngine();
      const engine = await starting;
      console.info(`search engine: ready in ${engine.startupMs} ms, pid ${engine.pid}, ${engine.url}`);
    }
    return starting;
  };

  afterAll(async () => {
    const engine = await starting?.catch(() => undefined);
    await engine?.stop();
  }, 30_000);

  it('answers as OpenSearch 2.19 on loopback', async () => {
    const engine = await up();
    const root = await engineRequest(engine.url, 'GET', '/');
    expect(root.status).toBe(200);
    expect(pick(root.json, 'version', 'distribution')).toBe('opensearch');
    expect(pick(root.json, 'version', 'number')).toMatch(/^2\.19\./);
  }, 120_000);

  it('stores a _bulk of creates in a data stream: 201s, 409 for a repeated _id, 400 without @timestamp', async () => {
    const engine = await up();
    const template = await engineRequest(
      engine.url,
      'PUT',
      '/_index_template/mimecast-test',
      JSON.stringify({
        index_patterns: ['logs-mimecast.*-*'],
        data_stream: {},
        priority: 200,
        template: { settings: { number_of_shards: 1, number_of_replicas: 0 } },
      }),
    );
    expect(template).toEqual({ status: 200, json: { acknowledged: true } });

    const create = (id: string): string => JSON.stringify({ create: { _index: STREAM, _id: id } });
    const ndjson =
      [
        create('ev-1'),
        JSON.stringify({ '@timestamp': '2024-05-01T10:00:00.000Z', message: 'first' }),
        create('ev-2'),
        JSON.stringify({ '@timestamp': '2024-05-01T10:00:01.000Z', message: 'second' }),
        create('ev-1'),
        JSON.stringify({ '@timestamp': '2024-05-01T10:00:00.000Z', message: 'first, sent again' }),
        create('ev-3'),
        JSON.stringify({ message: 'no timestamp' }),
      ].join('\n') + '\n';
    const bulk = await engineRequest(engine.url, 'POST', '/_bulk', ndjson, 'application/x-ndjson');
    expect(bulk.status).toBe(200);
    expect(pick(bulk.json, 'errors')).toBe(true);
    const items = pick(bulk.json, 'items');
    expect(Array.isArray(items)).toBe(true);
    const results = (items as unknown[]).map((item) => ({
      id: pick(item, 'create', '_id'),
      status: pick(item, 'create', 'status'),
      error: pick(item, 'create', 'error', 'type'),
      index: pick(item, 'create', '_index'),
    }));
    expect(results.map(({ id, status, error }) => ({ id, status, error }))).toEqual([
      { id: 'ev-1', status: 201, error: undefined },
      { id: 'ev-2', status: 201, error: undefined },
      { id: 'ev-1', status: 409, error: 'version_conflict_engine_exception' },
      { id: 'ev-3', status: 400, error: 'mapper_parsing_exception' },
    ]);
    // The writes went to the data stream's backing index, not to a plain index named like the stream.
    expect(results[0]?.index).toMatch(/^\.ds-logs-mimecast\.siem-default-\d+$/);

    expect((await engineRequest(engine.url, 'POST', `/${STREAM}/_refresh`)).status).toBe(200);
    const count = await engineRequest(engine.url, 'GET', `/${STREAM}/_count`);
    expect(pick(count.json, 'count')).toBe(2);
    const search = await engineRequest(engine.url, 'GET', `/${STREAM}/_search?sort=@timestamp:asc`);
    const hits = pick(search.json, 'hits', 'hits');
    expect(Array.isArray(hits)).toBe(true);
    expect((hits as unknown[]).map((h) => [pick(h, '_id'), pick(h, '_source', 'message')])).toEqual([
      ['ev-1', 'first'],
      ['ev-2', 'second'],
    ]);
    const stream = await engineRequest(engine.url, 'GET', `/_data_stream/${STREAM}`);
    expect(pick(stream.json, 'data_streams', 0, 'template')).toBe('mimecast-test');
    console.info(`search engine: RSS ${rssMb(engine.pid) ?? '?'} MB after the bulk`);
  }, 120_000);

  it('stop() ends the JVM by its pid and removes its home folder', async () => {
    const { pid, home } = await up();
    expect(existsSync(`${home}/data`)).toBe(true);
    await (await up()).stop();
    expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    expect(existsSync(home)).toBe(false);
  }, 120_000);
});

describe('test search engine when it cannot run', () => {
  it('says how to install it instead of skipping', async () => {
    await expect(startSearchEngine({ engineDir: '/nonexistent/opensearch' })).rejects.toThrow(
      /not installed in \/nonexistent\/opensearch: run "bash test\/engine\/install.sh"/,
    );
  });

  it('reports a JVM that dies during start-up with its exit code and the tail of its log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-engine-broken-'));
    try {
      mkdirSync(join(dir, 'classes'));
      mkdirSync(join(dir, 'lib'));
      writeFileSync(join(dir, 'stamp'), 'x\n');
      writeFileSync(join(dir, 'classes/TestSearchNode.class'), 'not a class file');
      await expect(startSearchEngine({ engineDir: dir, readyTimeoutMs: 30_000 })).rejects.toThrow(
        /exited before it was ready \(code 1, signal null\); last lines of its log:\n[\s\S]*TestSearchNode/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);
});

// `normalize` over every real-shaped record file of a public peer (../shared/fixtures/peer-samples, read in place,
// never copied here): one event for every record, none dropped, none quarantined, every event within the contract.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StreamName } from '../src/core/contracts.js';
import { checkEventContract } from '../src/normalize/contract.js';
import { REPO, runCli } from './helpers/harness.js';

const SAMPLES = resolve(REPO, '..', 'shared', 'fixtures', 'peer-samples');

/** The peer's data stream (the file name's prefix) → our stream. */
const STREAM_OF: Readonly<Record<string, StreamName>> = {
  archive_search_logs: 'archive_search',
  audit_events: 'audit',
  cloud_integrated_logs: 'siem',
  dlp_logs: 'dlp',
  message_release_logs: 'held_release',
  siem_logs: 'siem',
  threat_intel_malware_customer: 'threat_intel',
  threat_intel_malware_grid: 'threat_intel',
  ttp_ap_logs: 'ttp_attachment',
  ttp_ip_logs: 'ttp_impersonation',
  ttp_url_logs: 'ttp_url',
};

/** Splits a line holding one or more JSON values written back to back (`{...}{...}`) into those values. */
function jsonValues(line: string): unknown[] {
  const out: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (depth === 0) start = i;
      depth++;
    } else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) out.push(JSON.parse(line.slice(start, i + 1)));
    }
  }
  return out;
}

/** Records in one value as the API serves them: a reply's `data[]`, a STIX bundle's `objects[]`, else the value. */
function recordCount(v: unknown): number {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 1;
  const o = v as Record<string, unknown>;
  if (Array.isArray(o['data']) && 'meta' in o) return o['data'].length;
  if (o['type'] === 'bundle' && Array.isArray(o['objects'])) return o['objects'].length;
  return 1;
}

/** The records of a file as lines for `normalize`, and how many records they hold. */
function inputOf(file: string): { text: string; records: number } {
  const raw = readFileSync(join(SAMPLES, file), 'utf8');
  if (file.endsWith('.json')) {
    // A pipeline-test document: each `events[].message` is one record's JSON text.
    const messages = (JSON.parse(raw) as { events: { message: string }[] }).events.map((e) => e.message);
    return { text: messages.join('\n') + '\n', records: messages.length };
  }
  let records = 0;
  for (const line of raw.split('\n')) if (line.trim() !== '') for (const v of jsonValues(line)) records += recordCount(v);
  return { text: raw, records };
}

const available = existsSync(SAMPLES);
if (!available) process.stdout.write(`peer-samples test skipped: ${SAMPLES} is not there (it sits beside the checkout in CI)\n`);
const files = available ? readdirSync(SAMPLES).filter((f) => /\.(log|json)$/.test(f)) : [];

describe.skipIf(!available)('normalize over the peer samples', () => {
  it('finds a sample for every stream it maps', () => {
    const prefixes = new Set(files.map((f) => f.split('__')[0]));
    for (const prefix of Object.keys(STREAM_OF)) expect(prefixes, prefix).toContain(prefix);
    for (const prefix of prefixes) expect(STREAM_OF, `no stream for ${prefix ?? ''}`).toHaveProperty(prefix ?? '');
  });

  it.each(files)('%s: one event per record, none dropped', async (file) => {
    const stream = STREAM_OF[file.split('__')[0] ?? ''];
    if (stream === undefined) throw new Error(`no stream for ${file}`);
    const { text, records } = inputOf(file);
    expect(records).toBeGreaterThan(0);
    const r = await runCli(['normalize', '--stream', stream, '--account', 'peer'], text);
    expect(r.code).toBe(0);
    const docs = r.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(docs).toHaveLength(records);
    expect(r.stderr).toMatch(/no bad lines/);
    expect(docs.flatMap((d) => checkEventContract(d))).toEqual([]);
    // No two records collapse into one in the journal: events share an id only where the contract says the API's
    // own id is the identity (audit, impersonation) and the records carry that same id (the peer's test data
    // reuses a few audit ids for records it edited by hand).
    const byId = new Map<unknown, Record<string, unknown>[]>();
    for (const d of docs) {
      const id = (d['event'] as Record<string, unknown>)['id'];
      byId.set(id, [...(byId.get(id) ?? []), d]);
    }
    for (const group of byId.values()) {
      if (group.length === 1) continue;
      expect(['audit', 'ttp_impersonation']).toContain(stream);
      expect(new Set(group.map((d) => (d['mimecast'] as Record<string, unknown>)['id'])).size).toBe(1);
    }
  });
});

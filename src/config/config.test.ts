// Config loading from the user's side: the example file, every problem at once, env and *_file secrets, masking.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.js';
import { loadConfig, maskSecrets, parseConfigText } from './load.js';
import { formatDuration, parseDuration, parseSize } from './units.js';

const dir = mkdtempSync(join(tmpdir(), 'mc-config-'));
const secretFile = join(dir, 'secret');
const headersFile = join(dir, 'gateway-headers');
writeFileSync(secretFile, 's3cr3t-value\n');
writeFileSync(headersFile, 'X-Api-Key: gw-key-123456789\n');

describe('config/example.yaml', () => {
  it('loads, and documents a value for every key it sets', () => {
    const cfg = loadConfig(join(import.meta.dirname, '../../config/example.yaml'), {
      MIMECAST_CLIENT_ID: 'id-123',
      MIMECAST_CLIENT_SECRET_FILE: secretFile,
      MIMECAST_V1_APP_KEY_FILE: secretFile,
      MIMECAST_V1_ACCESS_KEY_FILE: secretFile,
      MIMECAST_V1_SECRET_KEY_FILE: secretFile,
      ES_API_KEY_FILE: secretFile,
      HEC_TOKEN_FILE: secretFile,
      GATEWAY_HEADERS_FILE: headersFile,
      KAFKA_PASSWORD_FILE: secretFile,
    });
    const corp = cfg.accounts[0];
    expect(corp?.api === 'v2' ? [corp.client_id, corp.client_secret] : []).toEqual(['id-123', 's3cr3t-value']);
    expect(cfg.accounts[0]?.poll_interval).toBe(60_000);
    expect(cfg.accounts[0]?.streams.siem?.types).toHaveLength(10);
    expect(corp?.streams.siem?.mode).toBe('batch');
    expect(corp?.streams.ttp_url).toEqual({ overlap: 600_000, settle: 60_000, page_size: 500, max_window: 86_400_000 });
    expect(corp?.streams.audit).toEqual({ overlap: 600_000, settle: 60_000, page_size: 500, max_window: 86_400_000 });
    expect(corp?.streams.threat_intel?.feeds).toEqual(['malware_customer']);
    const legacy = cfg.accounts[1];
    expect(legacy?.api).toBe('v1');
    expect(legacy?.api === 'v1' ? [legacy.app_key, legacy.access_key, legacy.secret_key] : []).toEqual(['s3cr3t-value', 's3cr3t-value', 's3cr3t-value']);
    expect(legacy?.streams.siem).toMatchObject({ file_format: 'json', compress: true });
    expect(cfg.journal.max_bytes).toBe(1024 ** 3);
    expect(cfg.sinks.map((s) => (s.type === 'http' ? `http/${s.preset}` : s.type))).toEqual(['file', 'stdout', 'http/elasticsearch', 'http/splunk_hec', 'http/ndjson', 'kafka', 'syslog', 'syslog']);
    const [, , elastic, splunk, gateway] = cfg.sinks;
    expect(elastic?.type === 'http' && elastic.preset === 'elasticsearch' ? elastic.api_key : undefined).toBe('s3cr3t-value');
    expect(splunk?.type === 'http' && splunk.preset === 'splunk_hec' ? [splunk.token, splunk.ack, splunk.batch.max_bytes] : []).toEqual(['s3cr3t-value', true, 1024 ** 2]);
    expect(gateway?.type === 'http' ? gateway.headers : undefined).toEqual({ 'X-Api-Key': 'gw-key-123456789' });
    const kafka = cfg.sinks[5];
    expect(kafka?.type === 'kafka' ? [kafka.topic, kafka.compression, kafka.sasl?.password, kafka.tls?.verify, kafka.max_message_bytes] : []).toEqual(['mimecast.{stream}', 'lz4', 's3cr3t-value', true, 1024 ** 2]);
    expect(JSON.stringify(maskSecrets(kafka))).not.toContain('s3cr3t-value');
    const [qradar, arcsight] = cfg.sinks.slice(6);
    expect(qradar?.type === 'syslog' ? [qradar.transport, qradar.format, qradar.facility, qradar.max_message_size, qradar.tls.verify] : []).toEqual(['tls', 'leef', 16, 64 * 1024, true]);
    expect(arcsight?.type === 'syslog' ? [arcsight.transport, arcsight.format, arcsight.rfc, arcsight.port] : []).toEqual(['tcp', 'cef', 5424, 514]);
  });
});

describe('loading', () => {
  const minimal = (extra = ''): string => `
accounts:
  - name: corp
    client_id: abc
    client_secret: \${SECRET}
    streams: { siem: {} }
sinks:
  - { name: out, type: file, path: ${dir}/out.ndjson }
${extra}`;

  it('sinks are required for the daemon, naming the key; the admin commands (purpose "admin") accept a file without them', () => {
    const noSinks = minimal().replace(/sinks:\n.*\n/, '');
    expect(noSinks).not.toContain('sinks');
    const daemon = parseConfigText(noSinks, { SECRET: 'x' });
    expect(daemon.config).toBeUndefined();
    expect(daemon.issues).toEqual([{ path: 'sinks', message: 'required (array)' }]);
    expect(parseConfigText(noSinks + 'sinks: []\n', { SECRET: 'x' }).issues).toEqual([{ path: 'sinks', message: 'configure at least one sink' }]);
    const adminOnly = parseConfigText(noSinks, { SECRET: 'x' }, 'admin');
    expect(adminOnly.issues).toEqual([]);
    expect(adminOnly.config?.sinks).toEqual([]);
    expect(adminOnly.config?.accounts[0]?.name).toBe('corp');
    // Sinks that are given are still checked in full.
    const bad = parseConfigText(minimal().replace('type: file', 'type: carrier-pigeon'), { SECRET: 'x' }, 'admin');
    expect(bad.issues.map((i) => i.path)).toEqual(['sinks[0].type']);
  });

  it('fills defaults', () => {
    const { config, issues } = parseConfigText(minimal(), { SECRET: 'x' });
    expect(issues).toEqual([]);
    expect(config?.data_dir).toBe('./data');
    expect(config?.accounts[0]?.base_url).toBe('https://api.services.mimecast.com');
    expect(config?.accounts[0]?.start_from).toBe(86_400_000);
    expect(config?.accounts[0]?.tls.verify).toBe(true);
    expect(config?.sinks[0]?.batch.max_wait).toBe(1000);
  });

  it('reports every problem at once with its path', () => {
    const text = `
data_dir: 5
bogus_key: 1
accounts:
  - name: Corp!
    client_id: abc
    client_secret: \${MISSING_VAR}
    poll_interval: often
    streams: { siem: { types: [receipt, nonsense] } }
sinks:
  - { name: out, type: file, path: /x, max_size: huge }
  - { name: out, type: carrier_pigeon }
`;
    const { config, issues } = parseConfigText(text, {});
    expect(config).toBeUndefined();
    const paths = issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'accounts[0].client_secret',
        'data_dir',
        'bogus_key',
        'accounts[0].name',
        'accounts[0].poll_interval',
        'accounts[0].streams.siem.types[1]',
        'sinks[0].max_size',
        'sinks[1].type',
      ]),
    );
    expect(issues.find((i) => i.path === 'accounts[0].client_secret')?.message).toMatch(/MISSING_VAR is not set/);
    expect(issues.find((i) => i.path === 'bogus_key')?.message).toBe('unknown key');
    expect(issues.find((i) => i.path === 'accounts[0].poll_interval')?.message).toMatch(/not a duration/);
  });

  it('names each unknown key, with the real key it is probably a typo of', () => {
    const text = `
accounts:
  - name: corp
    clinet_id: abc
    client_secret_flie: /run/secrets/x
    streams: { siem: {}, ttp_urls: {} }
sinks:
  - { name: out, type: file, path: /x, fsyncc: true, zzzzqq: 1 }
`;
    const { issues } = parseConfigText(text, {});
    const byPath = new Map(issues.map((i) => [i.path, i.message]));
    expect(byPath.get('accounts[0].clinet_id')).toBe('unknown key (did you mean "client_id"?)');
    expect(byPath.get('accounts[0].client_secret_flie')).toBe('unknown key (did you mean "client_secret_file"?)');
    expect(byPath.get('accounts[0].streams.ttp_urls')).toBe('unknown key (did you mean "ttp_url"?)');
    expect(byPath.get('sinks[0].fsyncc')).toBe('unknown key (did you mean "fsync"?)');
    expect(byPath.get('sinks[0].zzzzqq')).toBe('unknown key');
  });

  it('says a missing key is required', () => {
    const { issues } = parseConfigText(minimal().replace('    client_secret: ${SECRET}\n', ''), {});
    expect(issues).toContainEqual({ path: 'accounts[0].client_secret', message: 'required (string)' });
  });

  it('reads *_file secrets and rejects both forms together', () => {
    const ok = parseConfigText(minimal().replace('client_secret: ${SECRET}', `client_secret_file: ${secretFile}`), {});
    const acc = ok.config?.accounts[0];
    expect(acc?.api === 'v2' ? acc.client_secret : undefined).toBe('s3cr3t-value');
    const both = parseConfigText(minimal().replace('client_secret: ${SECRET}', `client_secret: a\n    client_secret_file: ${secretFile}`), {});
    expect(both.issues.map((i) => i.path)).toContain('accounts[0].client_secret_file');
    const missing = parseConfigText(minimal().replace('client_secret: ${SECRET}', `client_secret_file: ${dir}/nope`), {});
    expect(missing.issues[0]?.message).toMatch(/cannot read secret file .*nope \(ENOENT\)/);
  });

  it('flags duplicate names and unsupported api versions', () => {
    const text = minimal().replace('sinks:', 'sinks:\n  - { name: out, type: stdout }');
    const dup = parseConfigText(text, { SECRET: 'x' });
    expect(dup.issues.map((i) => i.path)).toContain('sinks[1].name');
    const v1 = parseConfigText(minimal().replace('client_id: abc', 'client_id: abc\n    api: v3'), { SECRET: 'x' });
    expect(v1.issues.map((i) => i.path)).toContain('accounts[0].api');
  });

  it('throws a ConfigError naming the file, and masks secrets for display', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'accounts: []\nsinks: []\n');
    expect(() => loadConfig(file, {})).toThrow(ConfigError);
    expect(() => loadConfig(join(dir, 'absent.yaml'), {})).toThrow(/cannot read config file .*absent\.yaml \(ENOENT\)/);
    const { config } = parseConfigText(minimal(), { SECRET: 'topsecret' });
    expect(JSON.stringify(maskSecrets(config))).not.toContain('topsecret');
  });

  it('reports YAML syntax errors with a line', () => {
    const { issues } = parseConfigText('accounts:\n  - name: [unclosed\n', {});
    expect(issues[0]?.path).toMatch(/^line \d+/);
  });
});

describe('accounts: API 1.0 and 2.0, streams', () => {
  const v1 = (body: string, streams = 'siem: {}'): string => `
accounts:
  - name: old
    api: v1
${body}
    streams: { ${streams} }
sinks:
  - { name: out, type: stdout }
`;
  const keys = '    app_id: id1\n    app_key: k1\n    access_key: a1\n    secret_key: c2VjcmV0\n';

  it('takes v1 keys with a base_url or a discover_email, any of them from *_file, and masks them', () => {
    const ok = parseConfigText(v1(`    base_url: https://eu-api.mimecast.com\n${keys}`), {});
    expect(ok.issues).toEqual([]);
    const a = ok.config?.accounts[0];
    expect(a?.api === 'v1' ? [a.base_url, a.app_id, a.app_key, a.access_key, a.secret_key] : []).toEqual(['https://eu-api.mimecast.com', 'id1', 'k1', 'a1', 'c2VjcmV0']);
    const masked = JSON.stringify(maskSecrets(ok.config));
    for (const secret of ['k1', 'a1', 'c2VjcmV0']) expect(masked).not.toContain(`"${secret}"`);
    const files = parseConfigText(
      v1(`    discover_email: svc@corp.example\n    app_id: id1\n    app_key_file: ${secretFile}\n    access_key_file: ${secretFile}\n    secret_key_file: ${secretFile}\n`),
      {},
    );
    expect(files.issues).toEqual([]);
    const b = files.config?.accounts[0];
    expect(b?.api === 'v1' ? [b.base_url, b.discover_email, b.secret_key] : []).toEqual([undefined, 'svc@corp.example', 's3cr3t-value']);
  });

  it('reports every v1 problem with its path', () => {
    const { issues } = parseConfigText(v1('    app_id: id1\n    client_secret: x\n', 'siem: { mode: stream, page_size: 10 }'), {});
    const byPath = new Map(issues.map((i) => [i.path, i.message]));
    expect(byPath.get('accounts[0].app_key')).toBeDefined();
    expect(byPath.get('accounts[0].secret_key')).toBeDefined();
    expect(byPath.get('accounts[0].client_secret')).toMatch(/not allowed here/);
    const refined = parseConfigText(v1(keys, 'siem: { mode: stream, page_size: 10 }'), {}).issues;
    const refinedBy = new Map(refined.map((i) => [i.path, i.message]));
    expect(refinedBy.get('accounts[0].base_url')).toMatch(/regional host.*discover_email/);
    expect(refinedBy.get('accounts[0].streams.siem.mode')).toMatch(/needs API 2\.0/);
    expect(refinedBy.get('accounts[0].streams.siem.page_size')).toMatch(/API 2\.0 only/);
  });

  it('bounds SIEM records and files: max_record_size and max_file_size, with defaults and ranges', () => {
    const siem = (streams: string): unknown => {
      const a = parseConfigText(v1(`    base_url: https://eu-api.mimecast.com\n${keys}`, streams), {}).config?.accounts[0];
      return a?.streams.siem;
    };
    expect(siem('siem: {}')).toMatchObject({ max_record_size: 1024 ** 2, max_file_size: 1024 ** 3 });
    expect(siem('siem: { max_record_size: 256KB, max_file_size: 10GB }')).toMatchObject({ max_record_size: 256 * 1024, max_file_size: 10 * 1024 ** 3 });
    const { issues } = parseConfigText(v1(`    base_url: https://eu-api.mimecast.com\n${keys}`, 'siem: { max_record_size: 1KB, max_file_size: 100TB }'), {});
    const byPath = new Map(issues.map((i) => [i.path, i.message]));
    expect(byPath.get('accounts[0].streams.siem.max_record_size')).toMatch(/between 64KB and 64MB/);
    expect(byPath.get('accounts[0].streams.siem.max_file_size')).toMatch(/between 1MB and 64GB/);
  });

  it('rejects API 1.0 options on a v2 account, and too large a batch page', () => {
    const text = `
accounts:
  - name: corp
    client_id: abc
    client_secret: x
    streams: { siem: { file_format: key_value, compress: false, page_size: 500 } }
sinks:
  - { name: out, type: stdout }
`;
    const paths = parseConfigText(text, {}).issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['accounts[0].streams.siem.file_format', 'accounts[0].streams.siem.compress', 'accounts[0].streams.siem.page_size']));
    const stream = parseConfigText(text.replace('file_format: key_value, compress: false, page_size: 500', 'mode: stream, page_size: 500'), {});
    expect(stream.issues).toEqual([]);
    expect(stream.config?.accounts[0]?.streams.siem).toMatchObject({ mode: 'stream', page_size: 500 });
  });

  it('takes the Cloud Integrated SIEM types on API 2.0 only, and never by default', () => {
    const v2 = (types: string): string => `
accounts:
  - name: corp
    client_id: abc
    client_secret: x
    streams: { siem: { types: [${types}] } }
sinks:
  - { name: out, type: stdout }
`;
    const ok = parseConfigText(v2('receipt, entities, mailflow, urlclick'), {});
    expect(ok.issues).toEqual([]);
    expect(ok.config?.accounts[0]?.streams.siem?.types).toEqual(['receipt', 'entities', 'mailflow', 'urlclick']);
    const byDefault = parseConfigText(v2('receipt').replace('{ types: [receipt] }', '{}'), {});
    expect(byDefault.config?.accounts[0]?.streams.siem?.types).not.toContain('entities');
    const typo = parseConfigText(v2('entity'), {}).issues;
    expect(typo.map((i) => [i.path, i.message])).toEqual([['accounts[0].streams.siem.types[0]', expect.stringMatching(/Cloud Integrated type: entities, mailflow, urlclick \(did you mean "entities"\?\)$/)]]);
    // A value nothing like the allowed ones gets no guess.
    expect(parseConfigText(v2('firewall'), {}).issues[0]?.message).not.toMatch(/did you mean/);
    expect(parseConfigText(v2('receipt').replace('types: [receipt]', 'types: [receipt], mode: strem'), {}).issues[0]?.message).toMatch(/did you mean "stream"\?/);
    const sink = parseConfigText(v2('receipt').replace('type: stdout', 'type: sdtout'), {}).issues;
    expect(sink.map((i) => [i.path, i.message])).toEqual([['sinks[0].type', 'unknown sink type (this version supports: file, stdout, http, kafka, syslog) (did you mean "stdout"?)']]);
    const old = parseConfigText(v1(keys.replace('    app_id', '    base_url: https://eu-api.mimecast.com\n    app_id'), 'siem: { types: [receipt, urlclick] }'), {}).issues;
    expect(old.map((i) => [i.path, i.message])).toEqual([['accounts[0].streams.siem.types', 'urlclick: Cloud Integrated logs need API 2.0 (api: v2)']]);
  });

  it('parses every stream, with defaults, and rejects keys a stream does not support', () => {
    const text = (streams: string): string => `
accounts:
  - name: corp
    client_id: abc
    client_secret: x
    streams:
${streams}
sinks:
  - { name: out, type: stdout }
`;
    const all = parseConfigText(
      text(
        '      ttp_url: { overlap: 5m, settle: 10s, page_size: 100, max_window: 6h }\n      ttp_attachment: {}\n      ttp_impersonation: {}\n      audit: {}\n      dlp: {}\n      held_release: {}\n      archive_search: {}\n      threat_intel: { feeds: [malware_customer, malware_grid] }\n',
      ),
      {},
    );
    expect(all.issues).toEqual([]);
    const s = all.config?.accounts[0]?.streams;
    expect(s?.ttp_url).toEqual({ overlap: 300_000, settle: 10_000, page_size: 100, max_window: 21_600_000 });
    expect(s?.held_release?.page_size).toBe(500);
    expect(s?.threat_intel?.feeds).toEqual(['malware_customer', 'malware_grid']);
    expect(s?.siem).toBeUndefined();
    const bad = parseConfigText(
      text('      audit: { types: [receipt], page_size: 5000, max_window: 10s }\n      threat_intel: { feeds: [malware_planet] }\n      bogus: {}\n'),
      {},
    );
    expect(bad.issues.map((i) => i.path)).toEqual(
      expect.arrayContaining([
        'accounts[0].streams.audit.types',
        'accounts[0].streams.audit.page_size',
        'accounts[0].streams.audit.max_window',
        'accounts[0].streams.threat_intel.feeds[0]',
        'accounts[0].streams.bogus',
      ]),
    );
  });

  it('accepts several accounts of both generations and flags an unknown api', () => {
    const text = `
accounts:
  - { name: a, client_id: abc, client_secret: x, streams: { siem: { mode: stream } } }
  - { name: b, api: v1, base_url: "https://us-api.mimecast.com", app_id: i, app_key: k, access_key: a, secret_key: s, streams: { siem: { file_format: key_value }, audit: {} } }
  - { name: c, api: v3, streams: { siem: {} } }
sinks:
  - { name: out, type: stdout }
`;
    const { issues } = parseConfigText(text, {});
    expect(issues).toEqual([{ path: 'accounts[2].api', message: expect.stringMatching(/"v2".*"v1"/) as string }]);
    const fixed = parseConfigText(text.replace(/\n {2}- \{ name: c.*\n/, '\n'), {});
    expect(fixed.config?.accounts.map((a) => a.api)).toEqual(['v2', 'v1']);
  });
});

describe('accounts[].default: the account `api` uses without --profile', () => {
  const two = (a: string, b: string): string => `
accounts:
  - { name: a, client_id: abc, client_secret: x, streams: { siem: {} }${a} }
  - { name: b, client_id: abc, client_secret: x, streams: { siem: {} }${b} }
sinks:
  - { name: out, type: stdout }
`;

  it('is false unless set, and takes true on one account', () => {
    expect(parseConfigText(two('', ''), {}).config?.accounts.map((a) => a.default)).toEqual([false, false]);
    expect(parseConfigText(two('', ', default: true'), {}).config?.accounts.map((a) => a.default)).toEqual([false, true]);
  });

  it('refuses two defaults, naming the second and the first', () => {
    const { issues } = parseConfigText(two(', default: true', ', default: true'), {});
    expect(issues).toEqual([{ path: 'accounts[1].default', message: 'only one account may be the default (also accounts[0])' }]);
  });
});

describe('sinks: routing, format and the http sink\'s secrets', () => {
  const withSink = (sink: string): string => `
accounts:
  - name: corp
    client_id: abc
    client_secret: abc-secret
    streams: { siem: {} }
sinks:
${sink}
`;

  it('concurrency defaults per sink type and preset: 1, 8 for splunk_hec, 4 for elasticsearch, 32 for syslog, 2 for kafka', () => {
    const sinks = [
      '  - { name: a, type: stdout }',
      '  - { name: b, type: http, preset: ndjson, url: "https://x.example/in" }',
      '  - { name: c, type: http, preset: splunk_hec, url: "https://x.example:8088", token: t }',
      '  - { name: d, type: http, preset: elasticsearch, url: "https://x.example:9200" }',
      '  - { name: e, type: syslog, host: x.example, transport: tcp }',
      '  - { name: f, type: kafka, brokers: ["x.example:9092"] }',
    ].join('\n');
    const r = parseConfigText(withSink(sinks), {});
    expect(r.issues).toEqual([]);
    expect(r.config?.sinks.map((s) => s.concurrency)).toEqual([1, 1, 8, 4, 32, 2]);
  });

  it('takes streams, log_types, format and concurrency, and names an unknown log type with the valid ones', () => {
    const ok = parseConfigText(withSink('  - { name: out, type: stdout, streams: [siem], log_types: [receipt, url_protect], format: cef, concurrency: 4 }'), {});
    expect(ok.issues).toEqual([]);
    expect(ok.config?.sinks[0]).toMatchObject({ streams: ['siem'], log_types: ['receipt', 'url_protect'], format: 'cef', concurrency: 4 });
    const bad = parseConfigText(withSink('  - { name: out, type: stdout, log_types: [reciept], streams: [sime], format: csv }'), {});
    const byPath = new Map(bad.issues.map((i) => [i.path, i.message]));
    expect(byPath.get('sinks[0].log_types[0]')).toMatch(/^unknown log type "reciept" \(expected one of: receipt, process, .*audit.*malware_grid, unknown\)$/);
    expect(byPath.get('sinks[0].streams[0]')).toMatch(/^expected one of: siem, ttp_url/);
    expect(byPath.get('sinks[0].format')).toBe('expected one of: ecs, raw, cef, leef');
  });

  it('treats header values and a password in a proxy URL as secrets; headers_file holds Name: value lines', () => {
    const headersFile = join(dir, 'headers');
    writeFileSync(headersFile, '# for the ingest gateway\nX-Api-Key: file-key-123456789\nX-Tenant: corp\n');
    const text = withSink(
      `  - name: out\n    type: http\n    preset: ndjson\n    url: https://ingest.example/v1\n    proxy_url: http://user:proxy-pass-987654@proxy.example:3128\n    headers: { X-Tenant: inline-wins-4321 }\n    headers_file: ${headersFile}`,
    );
    const { config, issues, secrets } = parseConfigText(text, {});
    expect(issues).toEqual([]);
    const sink = config?.sinks[0];
    expect(sink?.type === 'http' ? sink.headers : undefined).toEqual({ 'X-Api-Key': 'file-key-123456789', 'X-Tenant': 'inline-wins-4321' });
    expect([...secrets].sort()).toEqual(expect.arrayContaining(['abc-secret', 'file-key-123456789', 'inline-wins-4321', 'proxy-pass-987654']));
    const masked = JSON.stringify(maskSecrets(config));
    for (const v of ['file-key-123456789', 'inline-wins-4321', 'proxy-pass-987654']) expect(masked).not.toContain(v);
    expect(masked).toContain('"proxy_url":"http://user:***@proxy.example:3128"');
    writeFileSync(headersFile, 'not a header line\n');
    expect(parseConfigText(text, {}).issues).toEqual([{ path: 'sinks[0].headers_file', message: `${headersFile} line 1: expected "Name: value"` }]);
  });
});

describe('units', () => {
  it('parses durations and sizes', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('soon')).toBeUndefined();
    expect(parseDuration('10')).toBeUndefined();
    expect(parseSize('10MB')).toBe(10 * 1024 * 1024);
    expect(parseSize('512')).toBe(512);
    expect(parseSize('1.5KB')).toBe(1536);
    expect(parseSize('ten')).toBeUndefined();
    expect(formatDuration(5_400_000)).toBe('1h30m');
  });
});

describe('limits: every duration, size, port and count has a range', () => {
  const base = (account = '', top = '', sink = ''): string => `
${top}
accounts:
  - name: corp
    client_id: abc
    client_secret: x
    streams: { siem: {}, audit: {} }
${account}
sinks:
  - { name: out, type: file, path: ${dir}/out.ndjson ${sink} }
`;
  const issueAt = (text: string, path: string): string | undefined => parseConfigText(text, {}).issues.find((i) => i.path === path)?.message;

  it.each([
    ['poll_interval', '0s', 'between 1s and 1d'],
    ['poll_interval', '2d', 'between 1s and 1d'],
    ['request_timeout', '500ms', 'between 1s and 10m'],
    ['request_timeout', '1h', 'between 1s and 10m'],
    ['start_from', '61d', 'between 0s and 60d'],
  ])('accounts[0].%s: %s is refused', (key, value, message) => {
    expect(issueAt(base(`    ${key}: ${value}`), `accounts[0].${key}`)).toMatch(message);
  });

  it('bounds the stream keys, the journal, the sinks and the status port', () => {
    const streams = base().replace('streams: { siem: {}, audit: {} }', 'streams: { siem: {}, audit: { overlap: 2d, settle: 2d, max_window: 61d } }');
    expect(issueAt(streams, 'accounts[0].streams.audit.overlap')).toMatch('between 0s and 1d');
    expect(issueAt(streams, 'accounts[0].streams.audit.settle')).toMatch('between 0s and 1d');
    expect(issueAt(streams, 'accounts[0].streams.audit.max_window')).toMatch('between 1m and 60d');
    const top = base('', 'shutdown_timeout: 0s\njournal: { max_bytes: 99999999999999GB, max_events: 2000000000, dedup_window: 91d }\nhttp: { listen: "127.0.0.1:99999" }');
    expect(issueAt(top, 'shutdown_timeout')).toMatch('between 1s and 1h');
    expect(issueAt(top, 'journal.max_bytes')).toBe('"99999999999999GB" is too large');
    expect(issueAt(base('', 'journal: { max_bytes: 65TB }'), 'journal.max_bytes')).toMatch('between 1MB and 64TB');
    expect(issueAt(top, 'journal.max_events')).toMatch(/1000000000|1,000,000,000|less than or equal/);
    expect(issueAt(top, 'journal.dedup_window')).toMatch('between 1h and 90d');
    expect(issueAt(top, 'http.listen')).toMatch('port must be 0-65535');
    const sink = base('', '', ', max_size: 0, batch: { max_bytes: 2GB, max_wait: 10m }');
    expect(issueAt(sink, 'sinks[0].max_size')).toMatch('between 1KB and 1TB');
    expect(issueAt(sink, 'sinks[0].batch.max_bytes')).toMatch('between 1KB and 256MB');
    expect(issueAt(sink, 'sinks[0].batch.max_wait')).toMatch('between 0s and 5m');
  });

  it('refuses numbers too large to be exact, in any unit or as a bare number', () => {
    expect(issueAt(base('', 'journal: { max_bytes: 1e300 }'), 'journal.max_bytes')).toMatch('too large');
    expect(issueAt(base('', 'journal: { max_bytes: 99999999999999999999 }'), 'journal.max_bytes')).toMatch('too large');
    expect(issueAt(base('    poll_interval: 999999999999999999999w'), 'accounts[0].poll_interval')).toBe('"999999999999999999999w" is too large');
    expect(parseSize('99999999999999GB')).toBeUndefined();
    expect(parseDuration('999999999999999999999w')).toBeUndefined();
  });

  it('accepts the edges of each range and port 0 (a free port)', () => {
    const text = base(
      '    poll_interval: 1s\n    request_timeout: 10m\n    start_from: 60d',
      'shutdown_timeout: 1h\njournal: { max_bytes: 1MB, dedup_window: 90d }\nhttp: { listen: "127.0.0.1:0" }',
      ', max_size: 1KB, batch: { max_bytes: 256MB, max_wait: 0s }',
    );
    expect(parseConfigText(text, {}).issues).toEqual([]);
    expect(parseConfigText(base('', 'http: { listen: "0.0.0.0:65535" }'), {}).issues).toEqual([]);
  });

  it('refuses a SIEM type or a routed stream listed twice (each list is bounded by its values)', () => {
    const text = base().replace('siem: {}', 'siem: { types: [receipt, receipt] }');
    expect(issueAt(text, 'accounts[0].streams.siem.types')).toBe('a type is listed twice');
    expect(issueAt(base('', '', ', streams: [siem, siem]'), 'sinks[0].streams')).toBe('a stream is listed twice');
  });

  it('caps the number of accounts and sinks', () => {
    const accounts = Array.from({ length: 501 }, (_, i) => `  - { name: a${i}, client_id: abc, client_secret: x, streams: { siem: {} } }`).join('\n');
    const text = `accounts:\n${accounts}\nsinks:\n  - { name: out, type: stdout }\n`;
    expect(issueAt(text, 'accounts')).toMatch(/at most 500/);
  });
});

describe('hostile config input', () => {
  const withSecret = (line: string): string => `
accounts:
  - name: corp
    client_id: abc
${line}
    streams: { siem: {} }
sinks:
  - { name: out, type: stdout }
`;

  it('refuses a secret file that is a character device, without reading it', () => {
    const { issues } = parseConfigText(withSecret('    client_secret_file: /dev/zero'), {});
    expect(issues).toEqual([{ path: 'accounts[0].client_secret_file', message: expect.stringMatching(/\/dev\/zero is not a regular file \(a character device\)/) as string }]);
  });

  it('refuses a secret file that is a FIFO, without blocking on it', () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const { issues } = parseConfigText(withSecret(`    client_secret_file: ${fifo}`), {});
    expect(issues).toEqual([{ path: 'accounts[0].client_secret_file', message: expect.stringMatching(/is not a regular file \(a FIFO\)/) as string }]);
  });

  it('checks tls.ca_file: a FIFO or a device is refused without blocking, a file without a certificate named', () => {
    const fifo = join(dir, 'ca-fifo');
    execFileSync('mkfifo', [fifo]);
    const withCa = (file: string): string => withSecret(`    client_secret: s3cret-value\n    tls: { ca_file: ${JSON.stringify(file)} }`);
    expect(parseConfigText(withCa(fifo), {}).issues).toEqual([{ path: 'accounts[0].tls.ca_file', message: expect.stringMatching(/is not a regular file \(a FIFO\)/) as string }]);
    expect(parseConfigText(withCa('/dev/zero'), {}).issues[0]?.message).toMatch(/a character device/);
    const notPem = join(dir, 'not-a-ca.pem');
    writeFileSync(notPem, 'hello');
    expect(parseConfigText(withCa(notPem), {}).issues[0]?.message).toMatch(/holds no PEM certificate/);
    expect(parseConfigText(withCa(join(dir, 'missing.pem')), {}).issues[0]?.message).toMatch(/cannot read CA file .* \(ENOENT\)/);
  });

  it('refuses a secret file that is a directory or larger than 64 KiB', () => {
    expect(parseConfigText(withSecret(`    client_secret_file: ${dir}`), {}).issues[0]?.message).toMatch(/is not a regular file \(a directory\)/);
    const big = join(dir, 'big-secret');
    writeFileSync(big, 'a'.repeat(64 * 1024 + 1));
    expect(parseConfigText(withSecret(`    client_secret_file: ${big}`), {}).issues[0]).toEqual({
      path: 'accounts[0].client_secret_file',
      message: expect.stringMatching(/larger than 64KB/) as string,
    });
  });

  it('reports a YAML alias bomb as a config problem', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++) bomb.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill('*' + String.fromCharCode(96 + i)).join(', ')}]`);
    const { config, issues } = parseConfigText(bomb.join('\n') + '\n', {});
    expect(config).toBeUndefined();
    expect(issues).toEqual([{ path: '(yaml)', message: expect.stringMatching(/aliases/) as string }]);
  });

  it('reports a document nested too deeply instead of overflowing the stack', () => {
    const deep = `accounts: ${'['.repeat(5000)}${']'.repeat(5000)}\n`;
    const { config, issues } = parseConfigText(deep, {});
    expect(config).toBeUndefined();
    expect(issues[0]?.message).toMatch(/nested/);
    const deepMap = `accounts:\n  - ${Array.from({ length: 200 }, () => 'a: {').join(' ')}${'}'.repeat(200)}\n`;
    expect(parseConfigText(deepMap, {}).issues.some((i) => /nested more than 32 levels/.test(i.message))).toBe(true);
  });

  it('refuses a malformed ${...} reference instead of keeping it as a literal value', () => {
    for (const bad of ['${SECRET', '${}', '${1X}', 'pre-${SECRET:default}']) {
      const { config, issues } = parseConfigText(withSecret(`    client_secret: "${bad}"`), { SECRET: 'value' });
      expect(config).toBeUndefined();
      expect(issues).toEqual([{ path: 'accounts[0].client_secret', message: expect.stringMatching(/malformed \$\{\.\.\.\} reference/) as string }]);
    }
    const escaped = parseConfigText(withSecret('    client_secret: "a$${B}c"'), {});
    const acc = escaped.config?.accounts[0];
    expect(acc?.api === 'v2' ? acc.client_secret : undefined).toBe('a${B}c');
  });

  it('refuses a config file that is not a regular file or is larger than 1 MiB', () => {
    expect(() => loadConfig('/dev/zero', {})).toThrow(/not a regular file/);
    const big = join(dir, 'big.yaml');
    writeFileSync(big, '#'.repeat(1024 * 1024 + 1));
    expect(() => loadConfig(big, {})).toThrow(/larger than 1MB/);
  });
});

// Config loading from the user's side: the example file, every problem at once, env and *_file secrets, masking.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.js';
import { loadConfig, maskSecrets, parseConfigText } from './load.js';
import { formatDuration, parseDuration, parseSize } from './units.js';

const dir = mkdtempSync(join(tmpdir(), 'mc-config-'));
const secretFile = join(dir, 'secret');
writeFileSync(secretFile, 's3cr3t-value\n');

describe('config/example.yaml', () => {
  it('loads, and documents a value for every key it sets', () => {
    const cfg = loadConfig(join(import.meta.dirname, '../../config/example.yaml'), {
      MIMECAST_CLIENT_ID: 'id-123',
      MIMECAST_CLIENT_SECRET_FILE: secretFile,
    });
    expect(cfg.accounts[0]?.client_id).toBe('id-123');
    expect(cfg.accounts[0]?.client_secret).toBe('s3cr3t-value');
    expect(cfg.accounts[0]?.poll_interval).toBe(60_000);
    expect(cfg.accounts[0]?.streams.siem?.types).toHaveLength(10);
    expect(cfg.journal.max_bytes).toBe(1024 ** 3);
    expect(cfg.sinks.map((s) => s.type)).toEqual(['file', 'stdout']);
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
        '(top level)',
        'accounts[0].name',
        'accounts[0].poll_interval',
        'accounts[0].streams.siem.types[1]',
        'sinks[0].max_size',
        'sinks[1].type',
      ]),
    );
    expect(issues.find((i) => i.path === 'accounts[0].client_secret')?.message).toMatch(/MISSING_VAR is not set/);
    expect(issues.find((i) => i.path === '(top level)')?.message).toMatch(/bogus_key/);
    expect(issues.find((i) => i.path === 'accounts[0].poll_interval')?.message).toMatch(/not a duration/);
  });

  it('reads *_file secrets and rejects both forms together', () => {
    const ok = parseConfigText(minimal().replace('client_secret: ${SECRET}', `client_secret_file: ${secretFile}`), {});
    expect(ok.config?.accounts[0]?.client_secret).toBe('s3cr3t-value');
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

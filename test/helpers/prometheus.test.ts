// The test helper's Prometheus text parser: families, label escaping, histogram samples, and malformed lines refused.
import { describe, expect, it } from 'vitest';
import { exposedNames, labelValues, parsePrometheus, sumOf } from './prometheus.js';

const TEXT = [
  '# HELP x_total Things, with a \\\\ and a \\n in the help.',
  '# TYPE x_total counter',
  'x_total{a="1",b="q\\"uote"} 3',
  'x_total{a="2",b="back\\\\slash,{}"} 4.5 1700000000000',
  '# TYPE lat_seconds histogram',
  'lat_seconds_bucket{le="0.1"} 1',
  'lat_seconds_bucket{le="+Inf"} 2',
  'lat_seconds_sum 0.3',
  'lat_seconds_count 2',
  '# UNIT lat_seconds seconds',
  'g NaN',
  'h +Inf',
  '',
].join('\n');

describe('parsePrometheus', () => {
  it('reads families, escaped label values, timestamps and histogram samples', () => {
    const s = parsePrometheus(TEXT);
    expect(s.get('x_total')?.type).toBe('counter');
    expect(s.get('x_total')?.help).toBe('Things, with a \\ and a \n in the help.');
    expect(s.get('x_total')?.samples.map((x) => x.labels)).toEqual([
      { a: '1', b: 'q"uote' },
      { a: '2', b: 'back\\slash,{}' },
    ]);
    expect(sumOf(s, 'x_total')).toBe(7.5);
    expect(sumOf(s, 'x_total', { a: '2' })).toBe(4.5);
    expect(sumOf(s, 'x_total', { a: '3' })).toBe(0);
    expect(s.get('lat_seconds')?.samples.map((x) => x.name)).toEqual(['lat_seconds_bucket', 'lat_seconds_bucket', 'lat_seconds_sum', 'lat_seconds_count']);
    expect(sumOf(s, 'lat_seconds_count')).toBe(2);
    expect(labelValues(s, 'lat_seconds_bucket', 'le')).toEqual(['+Inf', '0.1']);
    expect(Number.isNaN(sumOf(s, 'g'))).toBe(true);
    expect(sumOf(s, 'h')).toBe(Infinity);
    expect([...exposedNames(s)].sort()).toEqual(['g', 'h', 'lat_seconds', 'lat_seconds_bucket', 'lat_seconds_count', 'lat_seconds_sum', 'x_total']);
  });

  it.each([
    ['x{a="1"}', 'no space before the value'],
    ['x{a="1} 1', 'unterminated label value'],
    ['x{a=1} 1', 'without ="value"'],
    ['x{a="1",a="2"} 1', 'label a twice'],
    ['x 1 2 3', 'trailing text'],
    ['x abc', 'bad value'],
    ['{a="1"} 1', 'no metric name'],
    ['# TYPE x sometype', 'unknown type'],
  ])('refuses %s', (line, why) => {
    expect(() => parsePrometheus(`${line}\n`)).toThrow(why);
  });
});

import { describe, expect, it } from 'vitest';
import { getPath, placeholdersIn, renderString, renderTemplate } from '../../src/probes/template.ts';

const vars = { probeId: 'p-1', idempotencyKey: 'k-1', amount: 1200, currency: 'eur', check: 'cards' };

describe('renderTemplate', () => {
  it('keeps a number numeric when the placeholder is the whole value', () => {
    expect(renderTemplate({ amount: '{{amount}}', currency: '{{ currency }}' }, vars)).toEqual({ amount: 1200, currency: 'eur' });
  });
  it('substitutes inside longer strings, arrays and nested objects', () => {
    expect(renderTemplate({ d: 'probe {{probeId}} of {{amount}}', m: { id: '{{probeId}}' }, l: ['{{idempotencyKey}}', 3, true, null] }, vars)).toEqual({
      d: 'probe p-1 of 1200',
      m: { id: 'p-1' },
      l: ['k-1', 3, true, null],
    });
  });
  it('throws on an unknown placeholder', () => {
    expect(() => renderTemplate('{{nope}}', vars)).toThrow(/nope/);
  });
  it('url-encodes substitutions in URLs', () => {
    expect(renderString('https://a/x/{{probeId}}', { probeId: 'a b/c' }, encodeURIComponent)).toBe('https://a/x/a%20b%2Fc');
  });
  it('lists the placeholders a template uses', () => {
    expect(placeholdersIn({ a: '{{amount}}', b: ['x {{probeId}}'], c: 5 }).sort()).toEqual(['amount', 'probeId']);
  });
});

describe('getPath', () => {
  it('reads dotted paths with array indexes', () => {
    const v = { data: { id: 'ch_1', items: [{ id: 'a' }, { id: 'b' }] } };
    expect(getPath(v, 'data.id')).toBe('ch_1');
    expect(getPath(v, 'data.items[1].id')).toBe('b');
    expect(getPath(v, 'data.items.0.id')).toBe('a');
    expect(getPath(v, 'data.missing.id')).toBeUndefined();
    expect(getPath(undefined, 'a')).toBeUndefined();
  });
});

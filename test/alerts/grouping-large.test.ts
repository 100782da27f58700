import { describe, expect, it } from 'vitest';
import { describeDown, groupSummary, memberDetails, type Member, type MemberStatus } from '../../src/alerts/grouping.ts';

// A small deterministic generator: the same members every run.
function members(n: number, seed = 7): Member[] {
  let x = seed;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const statuses: MemberStatus[] = ['down', 'recovered', 'held'];
  return Array.from({ length: n }, (_, i) => ({
    check: `c${Math.floor(rnd() * n * 10)}-${i}`,
    labels: { scheme: rnd() < 0.5 ? 'visa' : 'mastercard', region: `r${Math.floor(rnd() * 5)}` },
    status: statuses[Math.floor(rnd() * 3)]!,
    downAt: 1_000 + Math.floor(rnd() * 50), // many ties on downAt: the name decides
    reason: 'silent',
    ...(rnd() < 0.3 ? { recoveredAt: 2_000 } : {}),
  }));
}

describe('group details for big groups', () => {
  it('lists the same first members as sorting them all (down, held, recovered; by deadline, then name), from an array or a Map', () => {
    for (const n of [0, 1, 49, 50, 51, 5_000]) {
      const ms = members(n);
      const order = { down: 0, held: 1, recovered: 2 };
      const sorted = [...ms].sort((a, b) => order[a.status] - order[b.status] || a.downAt - b.downAt || (a.check < b.check ? -1 : 1));
      const want = sorted.slice(0, 50).map((m) => m.check);
      const fromArray = memberDetails(ms, 50) as { members: { check: string }[]; total: number; downTotal: number; unlisted?: number };
      const fromMap = memberDetails(new Map(ms.map((m) => [m.check, m])), 50) as typeof fromArray;
      expect(fromArray.members.map((m) => m.check)).toEqual(want);
      expect(fromMap).toEqual(fromArray);
      expect(fromArray.total).toBe(n);
      expect(fromArray.downTotal).toBe(ms.filter((m) => m.status === 'down').length);
      expect(fromArray.unlisted).toBe(n > 50 ? n - 50 : undefined);
    }
  });

  it('describes the down members in one pass: a label not carried by all of them says nothing', () => {
    const down = (check: string, labels: Record<string, string>): Member => ({ check, labels, status: 'down', downAt: 1, reason: 'r' });
    expect(describeDown([down('a', { scheme: 'visa', region: 'eu' }), down('b', { scheme: 'mastercard' }), { ...down('c', { scheme: 'amex', region: 'us' }), status: 'recovered' }])).toBe('2 checks down (visa, mastercard)');
    const many = Array.from({ length: 10 }, (_, i) => down(`c${i}`, { scheme: i % 2 ? 'visa' : 'mastercard', region: `r${i % 5}` }));
    expect(describeDown(many)).toBe('10 checks down (mastercard, visa × 5 regions)');
    expect(groupSummary(many.values(), { down: 10, recovered: 2, held: 0 })).toBe('10 checks down (mastercard, visa × 5 regions); 2 recovered');
    expect(groupSummary([{ ...many[0]!, status: 'recovered' }])).toBe('no checks down; 1 recovered');
  });
});

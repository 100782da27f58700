/**
 * What an open board (`board.public`) may show of an incident summary: `boardSafeText` keeps what
 * happened (check names, states, durations, counts) and withholds amounts, references, probe ids,
 * card numbers and anything else shaped like an identifier.
 */
import { describe, expect, it } from 'vitest';
import { boardIncidents, boardSafeText } from '../../src/board/model.ts';

/** Text nothing may leak: each must be gone from the output. */
const LEAKS: Array<[string, string[]]> = [
  // amounts: any 3-letter code next to a number, either order, any case, any separator
  ['refund of 100 inr failed', ['100', 'inr']],
  ['refund of INR 1,000.00 failed', ['1,000', 'INR']],
  ['charged 12.50 GBP twice', ['12.50', 'GBP']],
  ['charged gbp12.50 twice', ['12.50', 'gbp']],
  ['charged 12.50gbp twice', ['12.50', 'gbp']],
  ['payout 1 000 000 IDR stuck', ['000', 'IDR']],
  ['payout 250000 ngn stuck', ['250000', 'ngn']],
  ['payout 1.5k usd stuck', ['1.5k']],
  ['settled 3,450.99 zar', ['3,450', 'zar']],
  ['settled 99 xts (test currency)', ['99 xts']],
  ['BRL 45,90 declined', ['45,90', 'BRL']],
  ['100 ALL sent', ['100 ALL']],
  ['TRY 5 sent', ['TRY 5']],
  ['€5 taken', ['5']],
  ['5 € taken', ['5']],
  ['₹ 2,000 taken', ['2,000']],
  ['¥1000 taken', ['1000']],
  ['R$ 12 taken', ['12']],
  ['amount: 4200 missing', ['4200']],
  ['amount=17.3', ['17.3']],
  // references, unprefixed or not
  ['charge accepted (ref sbx_ch_2)', ['sbx_ch_2', 'ref']],
  ['charge accepted (acquirer reference: 7Q2KD9X1)', ['7Q2KD9X1']],
  ['acquirer reference 7Q2KD9X1 not seen', ['7Q2KD9X1']],
  ['ref: ABCD1234EFGH', ['ABCD1234EFGH']],
  ['reference=zz-981-aa', ['981']],
  ['ARN 74537604221431003257 pending', ['74537604221431003257', '7453']],
  ['settlement batch 20261202-0457-A77 missing', ['20261202', 'A77']],
  ['payment 8f3a2c1d9e0b4a7c not captured', ['8f3a2c1d9e0b4a7c']],
  ['payment deadbeefcafebabe not captured', ['deadbeefcafebabe']],
  ['intent pi_3NxYzAbCdEfGh12 failed', ['pi_3NxYzAbCdEfGh12']],
  ['charge ch_1 failed', ['ch_1']],
  ['txn_000045 failed', ['txn_000045']],
  ['auth_9Zk failed', ['auth_9Zk']],
  ['token tok_visa used', ['tok_visa']],
  ['key: sk_test_51Hxx', ['sk_test_51Hxx']],
  ['order #12345 stuck', ['12345']],
  ['account 12345678 frozen', ['12345678']],
  ['customer cus_Q1w2E3 complained', ['cus_Q1w2E3']],
  ['merchant id: 998877', ['998877']],
  ['msg AbXkQpLmZrTwYu arrived', ['AbXkQpLmZrTwYu']],
  ['trace 0af7651916cd43dd8448eb211c80319c', ['0af7651916cd43dd8448eb211c80319c']],
  ['uuid 3f2b1c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d', ['3f2b1c4d', '1e2f3a4b5c6d']],
  ['host qw-a:5:aaaa', ['qw-a:5:aaaa']],
  // probe ids
  ['probe pr_0f5e7a6c-1111-4222-8333-944445555666 lost', ['pr_', '0f5e7a6c', '944445555666']],
  ['pr_abcd expired', ['pr_abcd']],
  ['probe_12ab34 expired', ['probe_12ab34']],
  // cards
  ['card 4242 4242 4242 4242 declined', ['4242']],
  ['pan 4242-4242-4242-4242 declined', ['4242']],
  ['test card 4000056655665556 declined', ['4000056655665556', '5556']],
  ['masked 424242******4242 seen', ['424242', '4242']],
  ['masked 4242 **** **** 4242 seen', ['4242']],
  ['amex 3782 822463 10005 seen', ['3782', '822463', '10005']],
  // contact points and links
  ['paged alice@example.com', ['alice', 'example.com']],
  ['see https://dash.stripe.com/payments/py_123', ['stripe', 'py_123']],
  // an identifier built to look like a marker does not get out either
  ['x \ue000\ue100\ue000 pi_1', ['pi_1', '\ue000']],
];

/** Text that must come out unchanged. */
const KEEP = [
  'refunds is down: no events: silent 45s; normal at this hour: 1 event every 0.8s',
  'silent 45s',
  'silent 1h30m; limits: quiet after 1m, page after 3m',
  'no event within 15s',
  'lag 400ms',
  'card-auth-visa is down: events received (traffic returned)',
  'payouts-gbp is quiet',
  'faster-payments-out is down',
  '3 checks down (visa, mastercard); 2 recovered, 1 held (upstream down)',
  '1,234 checks down; 12,000 recovered',
  'quiet-triggered probes reached their share of the budget (3 in 24 h): no probe for this quiet spell, the page limit decides',
  'probe lost while traffic flows',
  'probe expired before the acquirer accepted the charge',
  'the acquirer did not accept the charge before the deadline',
  'check paused by ops',
  'run failed: HTTP 503 from the api',
  'still down after 45 min, not acknowledged',
  'down for 3 min and 2 of 5 probes lost',
  'settlement file late: due at 06:30, now 07:15',
  'failed on 2026-12-02 after 2-3 retries',
  'OK',
  'DOWN',
  'QUIET · PROBING',
  'ok for 2 s · pages at 3 m silent',
  'events every 10 s for the last 6 h',
  '5xx from v2 of the ipv6 endpoint',
  "acquirer don't answer",
  '99.9% of events within 2s',
];

describe('boardSafeText', () => {
  it.each(LEAKS)('%j leaks none of its identifiers', (input, secrets) => {
    const out = boardSafeText(input);
    for (const s of secrets) expect(out, out).not.toContain(s);
    // It still says something: the words around the identifier stay.
    expect(out.length).toBeGreaterThan(0);
  });

  it.each(KEEP)('%j stays as it is', (input) => {
    expect(boardSafeText(input)).toBe(input);
  });

  it.each([
    ['refund of 100 inr failed', 'refund of an amount failed'],
    ['INR 1,000.00 refunded', 'an amount refunded'],
    ['charge accepted (ref sbx_ch_2), 100 gbp, no event within 15s', 'charge accepted, an amount, no event within 15s'],
    ['acquirer reference 7Q2KD9X1 not seen in 30s', 'reference withheld not seen in 30s'],
    ['payment 8f3a2c1d9e0b4a7c not captured', 'payment [withheld] not captured'],
    ['card 4242 4242 4242 4242 declined', 'card [withheld] declined'],
    ['order #12345 stuck', 'order withheld stuck'],
    ['probe pr_0f5e7a6c-1111-4222-8333-944445555666 lost: charge accepted', 'probe lost: charge accepted'],
    ['retry pr_abcd1234 soon', 'retry a probe soon'],
    ['a ch_1 b pi_2 c', 'a [withheld] b [withheld] c'],
    ['ids ch_1 pi_2, py_3 txn_4', 'ids [withheld]'],
  ])('%j reads %j', (input, expected) => {
    expect(boardSafeText(input)).toBe(expected);
  });

  it('keeps known names as they are, even ones the rules would withhold', () => {
    expect(boardSafeText('payouts-gbp-2024 is down: 100 gbp stuck', ['payouts-gbp-2024'])).toBe('payouts-gbp-2024 is down: an amount stuck');
    expect(boardSafeText('payouts-gbp-2024 is down', [])).toBe('[withheld] is down');
    expect(boardSafeText('visa_v3.eu is down (ref ch_9)', ['visa_v3.eu'])).toBe('visa_v3.eu is down');
    // only whole names: a known name inside a longer token does not keep that token
    expect(boardSafeText('ab12_visa_v3.eu_x9 failed', ['visa_v3.eu'])).toBe('[withheld] failed');
  });

  it('drops control characters', () => {
    expect(boardSafeText('down\nnow\u0007')).toBe('down now');
  });

  it('an incident summary on the board goes through it, keeping the incident\'s own check name', () => {
    const [inc] = boardIncidents([
      { id: 'i1', check: 'eu_payouts.v2', openedAt: 1, summary: 'eu_payouts.v2 is down: payout po_1Abc2Def3 of 2,500.00 SEK (ref 99887766) not settled; silent 45s' },
    ]);
    expect(inc!.summary).toBe('eu_payouts.v2 is down: payout [withheld] of an amount not settled; silent 45s');
  });
});

/**
 * Pure helpers for matching an incoming event to a probe, per the check's `correlate` option.
 *  - `{attribute: 'probe_id'}` (default): the event carries the probe id in that attribute;
 *  - `{cardToken, amount}`: the event's `card_token` and `amount` attributes match the probe card.
 */
import type { Correlate } from './config.ts';

export interface CorrelatableEvent {
  attributes?: Record<string, string>;
  /** Some sources put the amount on the event itself. */
  amount?: number;
}

/** The probe id an event claims to prove (attribute correlation), if any. */
export function probeIdOf(event: CorrelatableEvent, correlate: Correlate): string | undefined {
  if (!('attribute' in correlate)) return undefined;
  const v = event.attributes?.[correlate.attribute];
  return v ? v : undefined;
}

/**
 * Does `event` prove the in-flight probe `probeId`? With card-token matching there is no id on
 * the event, so any event of the probe card with the probe amount proves the one in flight.
 */
export function eventProvesProbe(event: CorrelatableEvent, correlate: Correlate, probeId: string): boolean {
  if ('attribute' in correlate) return probeIdOf(event, correlate) === probeId;
  const token = event.attributes?.card_token;
  const amount = event.amount ?? (event.attributes?.amount !== undefined ? Number(event.attributes.amount) : undefined);
  return token === correlate.cardToken && (correlate.amount === undefined || amount === correlate.amount);
}

// The protocol check of an audit event at the outbox's edge, remembered by the event's shape. The
// proxy's events repeat: one app, user, host, route and decision give the same event again and again
// but for its time and its numbers (status code, bytes, latency). The full schema check (zod, ~8 µs
// an event, 4% of the daemon's main thread at 32 concurrent apps, issue 22) runs on the first event
// of each shape; a later one of the same shape differs only where the schema's verdict is easy to
// repeat exactly: its `at` is checked with the protocol's own timestamp schema and each number must be
// finite (all the protocol's attribute union asks of a number). Anything else, or a shape not yet
// accepted, goes through the full schema as before.
import { eventSchema, timestampSchema } from '../../../protocol/index.ts';
import type { EdgeEvent } from '../../../protocol/index.ts';

/** An event as it will be stored: without its seq, encoded. */
export interface CheckedEvent {
  type: string;
  at: string;
  payload: string;
}

/** Failing, `reason` is the schema's first issue as `path: message`. */
export type EventCheck = { ok: true; event: CheckedEvent } | { ok: false; reason: string };

/** Shapes remembered; past this the memory starts over (routes are paths, so shapes are not a closed set). */
const MAX_SHAPES = 1024;
const EVENT_KEYS = new Set(['type', 'at', 'app', 'os_user', 'attrs']);

export class EventChecker {
  readonly #shapes = new Set<string>();

  check(event: Omit<EdgeEvent, 'seq'>): EventCheck {
    const shape = shapeOf(event);
    if (shape !== undefined && this.#shapes.has(shape) && timestampSchema.safeParse(event.at).success && numbersFinite(event.attrs)) {
      return { ok: true, event: { type: event.type, at: event.at, payload: encode(event) } };
    }
    const checked = eventSchema.safeParse({ ...event, seq: 1 });
    if (!checked.success) {
      const issue = checked.error.issues[0];
      return { ok: false, reason: issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid' };
    }
    const { seq: _seq, ...clean } = checked.data;
    const payload = JSON.stringify(clean);
    // Remembered only when encoding the event as given yields what the schema's output does, so the
    // quick path stores the same bytes; and never for `gap`, whose check reads attrs.count's value.
    if (shape !== undefined && clean.type !== 'gap' && encode(event) === payload) {
      if (this.#shapes.size >= MAX_SHAPES) this.#shapes.clear();
      this.#shapes.add(shape);
    }
    return { ok: true, event: { type: clean.type, at: clean.at, payload } };
  }
}

/** The fields in the protocol's order, as the schema's output has them. */
function encode(event: Omit<EdgeEvent, 'seq'>): string {
  return JSON.stringify({ type: event.type, at: event.at, app: event.app, os_user: event.os_user, attrs: event.attrs });
}

/**
 * Everything in the event but its `at` and the values of its number attributes, each string
 * length-prefixed so two different events cannot share a shape; undefined for anything unusual (not a
 * plain object, other keys, a value that is not a string, number, boolean or null), which is always
 * checked in full.
 */
function shapeOf(event: Omit<EdgeEvent, 'seq'>): string | undefined {
  if (typeof event !== 'object' || event === null || Object.getPrototypeOf(event) !== Object.prototype) return undefined;
  for (const key of Object.keys(event)) if (!EVENT_KEYS.has(key)) return undefined;
  const { type, app, os_user: osUser, attrs } = event as { type: unknown; app: unknown; os_user: unknown; attrs: unknown };
  if (typeof type !== 'string' || (app !== undefined && typeof app !== 'string') || (osUser !== undefined && typeof osUser !== 'string')) return undefined;
  let shape = `${type.length}:${type}|${app === undefined ? '-' : `${app.length}:${app}`}|${osUser === undefined ? '-' : `${osUser.length}:${osUser}`}|`;
  if (attrs === undefined) return shape;
  if (typeof attrs !== 'object' || attrs === null || Object.getPrototypeOf(attrs) !== Object.prototype) return undefined;
  for (const key of Object.keys(attrs)) {
    const value = (attrs as Record<string, unknown>)[key];
    shape += `${key.length}:${key}`;
    if (typeof value === 'string') shape += `s${value.length}:${value}`;
    else if (typeof value === 'number') shape += 'n';
    else if (value === true) shape += 't';
    else if (value === false) shape += 'f';
    else if (value === null) shape += 'z';
    else return undefined;
  }
  return shape;
}

function numbersFinite(attrs: Record<string, unknown> | undefined): boolean {
  if (attrs === undefined) return true;
  for (const key in attrs) {
    const value = attrs[key];
    if (typeof value === 'number' && !Number.isFinite(value)) return false;
  }
  return true;
}

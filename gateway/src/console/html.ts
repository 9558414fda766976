// HTML built from tagged templates that escape every interpolated value: agents report app names, MCP
// server names and hostnames, so anything a device sent is hostile text until escaped. Only an `Html`
// value (made by `html` itself or by `raw` for this file's own constants) is inserted as markup.

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** A fragment of markup that is already safe to insert. */
export class Html {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

/** What may be interpolated: text (escaped), markup, lists of either, or nothing (`false`, null, undefined print nothing). */
export type HtmlValue = Html | string | number | boolean | null | undefined | readonly HtmlValue[];

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false || value === true) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return (value as readonly HtmlValue[]).map(render).join('');
  return escapeHtml(String(value));
}

/** `html\`<td>${name}</td>\``: the literal parts are markup, every value is escaped. */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new Html(out);
}

/** Markup this room wrote itself (an SVG path built from numbers); never text that came from outside. */
export function raw(markup: string): Html {
  return new Html(markup);
}

/**
 * Escaping for every output format. Names, messages and attributes come from traces
 * and scenarios: nothing is written unescaped.
 */

/** Characters XML 1.0 does not allow at all (even escaped): C0 controls except tab/LF/CR, lone surrogates, U+FFFE/U+FFFF. */
// eslint-disable-next-line no-control-regex
const XML_INVALID = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Text or attribute value in XML: the five entities, invalid characters replaced by U+FFFD. */
export function escapeXml(value: string): string {
  return escapeMarkup(value, '&apos;');
}

/** Attribute values keep line breaks only as character references (otherwise parsers normalise them to spaces). */
export function escapeXmlAttr(value: string): string {
  return escapeXml(value).replace(/\r/g, '&#13;').replace(/\n/g, '&#10;').replace(/\t/g, '&#9;');
}

/** Text or a quoted attribute in HTML (and inline SVG). */
export function escapeHtml(value: string): string {
  return escapeMarkup(value, '&#39;');
}

/** Invalid characters replaced by U+FFFD, the markup characters by entities (the apostrophe's differs: HTML 4 has no &apos;). */
function escapeMarkup(value: string, apostrophe: string): string {
  return value
    .replace(XML_INVALID, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, apostrophe);
}

/**
 * One cell of a GitHub-flavoured Markdown table: one line, pipes escaped, HTML and
 * Markdown syntax neutralised (GitHub renders inline HTML; a span name must not).
 */
export function escapeMarkdownCell(value: string): string {
  return escapeMarkdownText(value).replace(/\|/g, '\\|');
}

/** Inline Markdown text: one line, no HTML, no emphasis/link/code syntax. */
export function escapeMarkdownText(value: string): string {
  return value
    .replace(XML_INVALID, '\uFFFD')
    .replace(/\r?\n|\r/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*[\]#~!])/g, '\\$1')
    // `_` inside a word (http_req_duration) is never emphasis in GFM: left readable.
    .replace(/(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])/g, '\\_');
}

/** A value for an HTML id/anchor: only [A-Za-z0-9_-]. */
export function safeId(value: string): string {
  return value.replace(/[^A-Za-z0-9_-]/g, '_');
}

/**
 * A tiny strict XML reader for tests: elements, attributes, text; rejects unbalanced or
 * mis-nested tags, unknown entities, raw `<`/`&` in text and unquoted attributes.
 */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function unescapeXml(s: string, where: string): string {
  return s.replace(/&([^;\s]*);?/g, (m, body: string) => {
    if (!m.endsWith(';')) throw new Error(`${where}: bare & in ${JSON.stringify(s.slice(0, 80))}`);
    if (body in ENTITIES) return ENTITIES[body]!;
    const num = /^#(x[0-9a-fA-F]+|[0-9]+)$/.exec(body);
    if (num) return String.fromCodePoint(num[1]!.startsWith('x') ? parseInt(num[1]!.slice(1), 16) : parseInt(num[1]!, 10));
    throw new Error(`${where}: unknown entity &${body};`);
  });
}

export function parseXml(xml: string): XmlElement {
  let i = 0;
  const decl = /^<\?xml[^?]*\?>\s*/.exec(xml);
  if (decl) i = decl[0].length;
  const root: XmlElement = { name: '#document', attrs: {}, children: [], text: '' };
  const stack: XmlElement[] = [root];
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const textPart = xml.slice(i, lt === -1 ? xml.length : lt);
    if (textPart.includes('>')) throw new Error(`raw > in text at ${i}`);
    stack[stack.length - 1]!.text += unescapeXml(textPart, `text at ${i}`);
    if (lt === -1) break;
    const gt = xml.indexOf('>', lt);
    if (gt === -1) throw new Error(`unterminated tag at ${lt}`);
    const tag = xml.slice(lt + 1, gt);
    if (tag.includes('<')) throw new Error(`< inside tag at ${lt}`);
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      const open = stack.pop();
      if (!open || open.name !== name) throw new Error(`</${name}> closes <${open?.name}> at ${lt}`);
    } else {
      const selfClosing = tag.endsWith('/');
      const body = selfClosing ? tag.slice(0, -1) : tag;
      const m = /^([A-Za-z_][\w.:-]*)/.exec(body);
      if (!m) throw new Error(`bad tag name at ${lt}`);
      const el: XmlElement = { name: m[1]!, attrs: {}, children: [], text: '' };
      let rest = body.slice(m[0].length);
      const attrRe = /^\s+([A-Za-z_][\w.:-]*)="([^"]*)"/;
      for (let a = attrRe.exec(rest); a; a = attrRe.exec(rest)) {
        if (a[1]! in el.attrs) throw new Error(`duplicate attribute ${a[1]} at ${lt}`);
        el.attrs[a[1]!] = unescapeXml(a[2]!, `attribute ${a[1]} at ${lt}`);
        rest = rest.slice(a[0].length);
      }
      if (rest.trim() !== '') throw new Error(`bad attributes ${JSON.stringify(rest)} at ${lt}`);
      stack[stack.length - 1]!.children.push(el);
      if (!selfClosing) stack.push(el);
    }
    i = gt + 1;
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (root.children.length !== 1) throw new Error(`expected one root element, got ${root.children.length}`);
  return root.children[0]!;
}

export function findAll(el: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement) => {
    for (const c of e.children) {
      if (c.name === name) out.push(c);
      walk(c);
    }
  };
  walk(el);
  return out;
}

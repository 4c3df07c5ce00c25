import sanitizeHtml from 'sanitize-html';

/** Inline style properties kept; `display`, `visibility`, `position` and the like are dropped so nothing can hide. */
const safeStyle = /^[#\w\s.,%()'"!-]+$/;
const allowedStyleProperties = [
  'color',
  'background-color',
  'font-weight',
  'font-style',
  'font-size',
  'font-family',
  'text-align',
  'text-decoration',
  'vertical-align',
  'white-space',
  'border',
  'border-collapse',
  'border-color',
  'border-style',
  'border-width',
  'padding',
  'margin',
  'width',
  'height',
  'line-height',
];

const tableAttributes = ['align', 'valign', 'bgcolor', 'colspan', 'rowspan', 'cellpadding', 'cellspacing', 'border', 'width', 'height'];

const options: sanitizeHtml.IOptions = {
  allowedTags: [
    ...sanitizeHtml.defaults.allowedTags,
    'img',
    'font',
    'center',
    'span',
    'del',
    'ins',
    'strike',
    'u',
  ],
  disallowedTagsMode: 'discard',
  nonTextTags: ['script', 'style', 'textarea', 'option', 'noscript', 'title', 'head'],
  allowedAttributes: {
    '*': ['style', 'dir', 'lang', 'title', ...tableAttributes],
    a: ['href', 'name', 'target', 'rel'],
    img: ['src', 'alt', 'width', 'height'],
    font: ['color', 'face', 'size'],
  },
  allowedStyles: { '*': Object.fromEntries(allowedStyleProperties.map((p) => [p, [safeStyle]])) },
  allowedSchemes: ['http', 'https', 'mailto', 'tel'],
  allowedSchemesByTag: { img: ['cid', 'https', 'data'] },
  allowProtocolRelative: false,
  transformTags: {
    a: (tagName, attribs) => ({ tagName, attribs: { ...attribs, rel: 'nofollow noreferrer noopener' } }),
    img: (tagName, attribs) => {
      const src = (attribs.src ?? '').trim();
      const allowedSrc = src.toLowerCase().startsWith('data:') && !/^data:image\/(png|jpe?g|gif|webp);/i.test(src) ? '' : src;
      return { tagName, attribs: { ...attribs, src: allowedSrc } };
    },
  },
};

/**
 * Sanitises an HTML body against an allow-list: no script, iframe, form, object, embed,
 * style elements or `<meta>`, no `on*` handlers, no `javascript:` URLs, no styles that
 * hide content. Links get `rel="nofollow noreferrer noopener"`; images keep only `cid:`,
 * `https:` and `data:image/…` sources.
 */
export function sanitizeBodyHtml(html: string): string {
  return sanitizeHtml(html, options);
}

/** Normalises a Content-ID or an image reference for comparison: no `cid:`, no `<>`, lowercase. */
function normaliseReference(value: string): string {
  let ref = value.trim();
  if (/^cid:/i.test(ref)) ref = ref.slice(4);
  try {
    ref = decodeURIComponent(ref);
  } catch {
    // keep the raw reference when it is not valid percent-encoding
  }
  return ref.replace(/^<|>$/g, '').trim().toLowerCase();
}

/**
 * Collects the Content-IDs the (unsanitised) HTML refers to from `src` or `background` attributes,
 * with or without the `cid:` scheme, normalised for comparison with {@link contentIdKey}.
 */
export function referencedContentIds(html: string): Set<string> {
  const refs = new Set<string>();
  for (const match of html.matchAll(/\b(?:src|background)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi)) {
    const value = match[1] ?? match[2] ?? match[3] ?? '';
    if (value !== '') refs.add(normaliseReference(value));
  }
  return refs;
}

/** Returns the comparison key of a Content-ID header value. */
export function contentIdKey(contentId: string): string {
  return normaliseReference(contentId);
}

const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

/**
 * Plain text from an HTML body, for messages that carry only HTML: block ends become line
 * breaks, tags are dropped, common entities decoded. Meant for search and previews, not display.
 */
export function htmlToPlainText(html: string): string {
  return html
    .replace(/<(script|style|head|title)\b[^]*?<\/\1\s*>/gi, '')
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<\/(p|div|tr|li|h[1-6]|table|blockquote)\s*>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole: string, name: string) => {
      if (name.startsWith('#')) {
        const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
        return Number.isInteger(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
      }
      return entities[name.toLowerCase()] ?? whole;
    })
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

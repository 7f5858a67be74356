// The references between the page's files, for scripts/package-web.mjs: where each one is in its
// file and which file it names. A reference that names no file is an error, so that a new one can
// never ship under a name the packaged site does not have.
//
// JS: module specifiers (import/export ... from, import '...', import('...')), new URL('...',
// import.meta.url), and any other string literal that is a relative path with a file name
// ('pkg/maps.json', '../data/x.gz'): resolved against the module's folder, then the site's root
// (where the HTML pages are, for fetches from the page). CSS: url() and @import. HTML: src and
// href. Web app manifest: icons and screenshots. A path put together at run time (a template with
// ${...}, a concatenation) is not seen: write each reference to a file as one literal.

import { posix } from 'node:path';

const EXTERNAL = /^([a-z][a-z0-9+.-]*:|#|\/\/)/i;
/** './x', '../x/y' (explicitly relative) or 'dir/file.ext': what a JS string that names a file looks like. */
const PATH_LIKE = /^(?:(?:\.{1,2}\/)+[\w.-]+(?:\/[\w.-]+)*|[\w-][\w.-]*(?:\/[\w.-]+)+\.[A-Za-z0-9]+)$/;
const REGEX_AFTER_WORD = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do', 'else', 'yield', 'await']);

/** Index just past the quoted string that starts at `i`. */
function skipString(src, i) {
  const quote = src[i];
  for (i++; i < src.length && src[i] !== quote; i++) if (src[i] === '\\') i++;
  return i + 1;
}

/** Index just past the regex literal that starts at `i` (classes may hold '/'). */
function skipRegex(src, i) {
  let inClass = false;
  for (i++; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') i++;
    else if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    else if (c === '/' && !inClass) break;
    else if (c === '\n') break;
  }
  for (i++; /[a-z]/i.test(src[i] ?? ''); i++);
  return i;
}

/** Scans a template from `i` (just after ` or }) to its end or its next '${'. */
function skipTemplate(src, i) {
  for (; i < src.length; i++) {
    if (src[i] === '\\') i++;
    else if (src[i] === '`') return { end: i + 1, open: false };
    else if (src[i] === '$' && src[i + 1] === '{') return { end: i + 2, open: true };
  }
  return { end: i, open: false };
}

/** JS tokens: strings (with `value`), names and single punctuation characters; comments, regexes and numbers skipped. */
function tokens(src) {
  const out = [];
  const templates = []; // brace depth at each open '${'
  let depth = 0;
  const last = () => out[out.length - 1];
  const regexAllowed = () => !last() || (last().type === 'punct' && !')]'.includes(last().text))
    || (last().type === 'name' && REGEX_AFTER_WORD.has(last().text));
  for (let i = 0; i < src.length;) {
    const c = src[i];
    if (/\s/.test(c)) { i++; continue; }
    if (src.startsWith('//', i)) { i = src.indexOf('\n', i); if (i < 0) break; continue; }
    if (src.startsWith('/*', i)) { i = src.indexOf('*/', i + 2) + 2; if (i < 2) break; continue; }
    if (c === '"' || c === "'") {
      const end = skipString(src, i);
      out.push({ type: 'string', start: i, end, value: src.slice(i + 1, end - 1) });
      i = end;
    } else if (c === '`' || (c === '}' && templates.at(-1) === depth)) {
      if (c === '}') templates.pop();
      const { end, open } = skipTemplate(src, i + 1);
      if (open) templates.push(depth);
      // Only a template without substitutions is a fixed string.
      out.push(c === '`' && !open ? { type: 'string', start: i, end, value: src.slice(i + 1, end - 1) } : { type: 'template', text: '`' });
      i = end;
    } else if (c === '/' && regexAllowed()) {
      i = skipRegex(src, i);
      out.push({ type: 'regex', text: '/' });
    } else if (/[\w$\u0080-\uffff]/.test(c)) {
      const match = /^[\w$\u0080-\uffff]+/.exec(src.slice(i, i + 200));
      out.push({ type: /^\d/.test(match[0]) ? 'number' : 'name', text: match[0] });
      i += match[0].length;
    } else {
      if (c === '{') depth++;
      if (c === '}') depth--;
      out.push({ type: 'punct', text: c });
      i++;
    }
  }
  return out;
}

const is = (token, text) => token?.text === text;

/**
 * How the string token at `k` is used: 'module' (a specifier), 'url' (new URL(s, import.meta.url)),
 * both relative to the module; 'path' (relative to the module or the site's root); null (not a reference).
 */
function jsRole(list, k) {
  const [p1, p2, p3] = [list[k - 1], list[k - 2], list[k - 3]];
  const next = list[k + 1];
  if (is(p1, 'from') || (is(p1, 'import') && !is(p2, '.'))) return 'module';
  if (is(p1, '(') && is(p2, 'import')) return 'module';
  if (is(p1, '(') && is(p2, 'URL') && is(p3, 'new') && is(next, ',')
    && ['import', '.', 'meta', '.', 'url'].every((t, j) => is(list[k + 2 + j], t))) return 'url';
  // A property key ({ './x.js': v }) is a name, not a reference.
  if (is(next, ':') && (is(p1, '{') || is(p1, ','))) return null;
  return PATH_LIKE.test(list[k].value) ? 'path' : null;
}

/** The file a relative reference from `from` names, or the reason it names none. */
function resolveTarget(from, spec, role, known) {
  const bare = spec.split(/[?#]/)[0];
  if (spec !== bare) return { error: `'${spec}' has a query or fragment: a hashed name would not cover it` };
  const relative = posix.normalize(posix.join(posix.dirname(from), bare));
  const candidates = [relative];
  if (role === 'path' && !bare.startsWith('.')) candidates.push(posix.normalize(bare));
  const found = [...new Set(candidates.filter((c) => known.has(c)))];
  if (found.length === 1) return { target: found[0] };
  if (found.length > 1) return { error: `'${spec}' is ambiguous: both ${found.join(' and ')} exist` };
  return { error: `'${spec}' names no file (looked for ${[...new Set(candidates)].join(' and ')})` };
}

function jsReferences(from, text, known) {
  const refs = [];
  const list = tokens(text);
  for (let k = 0; k < list.length; k++) {
    if (list[k].type !== 'string') continue;
    const role = jsRole(list, k);
    if (!role) continue;
    const { start, end, value } = list[k];
    if (role === 'module' && !/^\.{0,2}\//.test(value)) return { error: `bare module specifier '${value}' (the page has no import map)` };
    refs.push({ start: start + 1, end: end - 1, literal: value, spec: value, role });
  }
  return { refs };
}

/** Text ranges of `pattern` matches outside comments; group `g` holds the reference. */
function matchesOutside(text, pattern, comment, g) {
  const comments = [...text.matchAll(comment)].map((m) => [m.index, m.index + m[0].length]);
  const refs = [];
  for (const m of text.matchAll(pattern)) {
    if (comments.some(([a, b]) => m.index >= a && m.index < b)) continue;
    const spec = m[g];
    if (EXTERNAL.test(spec) || spec === '' || spec.startsWith('data:')) continue;
    const start = m.index + m[0].lastIndexOf(spec);
    refs.push({ start, end: start + spec.length, literal: spec, spec, role: 'module' });
  }
  return { refs };
}

function manifestReferences(from, text) {
  let json;
  try { json = JSON.parse(text); } catch (e) { return { error: `not JSON: ${e.message}` }; }
  const refs = [];
  for (const item of [...(json.icons ?? []), ...(json.screenshots ?? [])]) {
    const start = text.indexOf(`"${item.src}"`);
    if (start < 0) return { error: `icon "${item.src}" must be written without escapes` };
    refs.push({ start: start + 1, end: start + 1 + item.src.length, literal: item.src, spec: item.src, role: 'module' });
  }
  return { refs };
}

const SCANNERS = [
  [/\.m?js$/, jsReferences],
  [/\.css$/, (from, text) => matchesOutside(text, /(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)/g, /\/\*[\s\S]*?\*\//g, 1)],
  [/\.html$/, (from, text) => matchesOutside(text, /\s(?:src|href)\s*=\s*["']([^"']*)["']/gi, /<!--[\s\S]*?-->/g, 1)],
  [/\.webmanifest$/, manifestReferences],
];

/**
 * The references in the file `logical` (a path under the site's root): { text, refs } with refs
 * in text order, each { start, end, literal, target }, or { error } naming the first bad one.
 */
export function referencesOf(logical, bytes, known) {
  const scanner = SCANNERS.find(([pattern]) => pattern.test(logical))?.[1];
  if (!scanner) return { refs: [] };
  const text = bytes.toString('utf8');
  const scanned = scanner(logical, text, known);
  if (scanned.error) return scanned;
  for (const ref of scanned.refs) {
    if (ref.spec.startsWith('/')) return { error: `'${ref.spec}' is root-absolute: the site could not be hosted in a subfolder` };
    const resolved = resolveTarget(logical, ref.spec, ref.role, known);
    if (resolved.error) return resolved;
    ref.target = resolved.target;
  }
  scanned.refs.sort((a, b) => a.start - b.start);
  return { text, refs: scanned.refs };
}

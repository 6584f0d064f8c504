// PromQL language support for the editor: completion and validation.
//
// `promqlContext(text, cursor)` reads the expression up to the cursor (strings, brackets,
// the selector a brace belongs to, grouping clauses) and says what may be typed there.
// `promqlSupport(api)` turns that into suggestions from the Prometheus API of the chosen
// tenant (metric names, label names and values of a selector, cached briefly) plus the
// language's functions, aggregations and keywords, and validates an expression through
// `/api/v1/format_query`, which answers Prometheus's parse error for a bad one.

/** [name, signature, what it does] of every PromQL function the engine evaluates. */
export const FUNCTIONS = [
  ['abs', 'abs(v instant-vector)', 'absolute value'],
  ['absent', 'absent(v instant-vector)', '1 when the vector is empty'],
  ['absent_over_time', 'absent_over_time(v range-vector)', '1 when the range is empty'],
  ['acos', 'acos(v instant-vector)', 'arccosine'],
  ['acosh', 'acosh(v instant-vector)', 'inverse hyperbolic cosine'],
  ['asin', 'asin(v instant-vector)', 'arcsine'],
  ['asinh', 'asinh(v instant-vector)', 'inverse hyperbolic sine'],
  ['atan', 'atan(v instant-vector)', 'arctangent'],
  ['atanh', 'atanh(v instant-vector)', 'inverse hyperbolic tangent'],
  ['avg_over_time', 'avg_over_time(v range-vector)', 'average over the range'],
  ['ceil', 'ceil(v instant-vector)', 'round up'],
  ['changes', 'changes(v range-vector)', 'number of value changes'],
  ['clamp', 'clamp(v instant-vector, min scalar, max scalar)', 'limit to [min, max]'],
  ['clamp_max', 'clamp_max(v instant-vector, max scalar)', 'limit to max'],
  ['clamp_min', 'clamp_min(v instant-vector, min scalar)', 'limit to min'],
  ['cos', 'cos(v instant-vector)', 'cosine'],
  ['cosh', 'cosh(v instant-vector)', 'hyperbolic cosine'],
  ['count_over_time', 'count_over_time(v range-vector)', 'samples in the range'],
  ['day_of_month', 'day_of_month(v=vector(time()) instant-vector)', 'day of the month (UTC)'],
  ['day_of_week', 'day_of_week(v=vector(time()) instant-vector)', 'day of the week (UTC)'],
  ['day_of_year', 'day_of_year(v=vector(time()) instant-vector)', 'day of the year (UTC)'],
  ['days_in_month', 'days_in_month(v=vector(time()) instant-vector)', 'days in the month (UTC)'],
  ['deg', 'deg(v instant-vector)', 'radians to degrees'],
  ['delta', 'delta(v range-vector)', 'difference of a gauge over the range'],
  ['deriv', 'deriv(v range-vector)', 'per-second derivative (linear regression)'],
  ['double_exponential_smoothing', 'double_exponential_smoothing(v range-vector, sf scalar, tf scalar)', 'smoothed value'],
  ['exp', 'exp(v instant-vector)', 'e to the power of v'],
  ['floor', 'floor(v instant-vector)', 'round down'],
  ['histogram_fraction', 'histogram_fraction(lower scalar, upper scalar, b instant-vector)', 'share of observations in [lower, upper]'],
  ['histogram_quantile', 'histogram_quantile(φ scalar, b instant-vector)', 'φ-quantile of histogram buckets'],
  ['hour', 'hour(v=vector(time()) instant-vector)', 'hour of the day (UTC)'],
  ['idelta', 'idelta(v range-vector)', 'difference of the last two samples'],
  ['increase', 'increase(v range-vector)', 'increase of a counter over the range'],
  ['irate', 'irate(v range-vector)', 'per-second rate of the last two samples'],
  ['label_join', 'label_join(v instant-vector, dst string, sep string, src string...)', 'join label values into a label'],
  ['label_replace', 'label_replace(v instant-vector, dst string, replacement string, src string, regex string)', 'set a label from a regex match'],
  ['last_over_time', 'last_over_time(v range-vector)', 'most recent sample in the range'],
  ['ln', 'ln(v instant-vector)', 'natural logarithm'],
  ['log10', 'log10(v instant-vector)', 'decimal logarithm'],
  ['log2', 'log2(v instant-vector)', 'binary logarithm'],
  ['mad_over_time', 'mad_over_time(v range-vector)', 'median absolute deviation over the range'],
  ['max_over_time', 'max_over_time(v range-vector)', 'maximum over the range'],
  ['min_over_time', 'min_over_time(v range-vector)', 'minimum over the range'],
  ['minute', 'minute(v=vector(time()) instant-vector)', 'minute of the hour (UTC)'],
  ['month', 'month(v=vector(time()) instant-vector)', 'month of the year (UTC)'],
  ['pi', 'pi()', 'π'],
  ['predict_linear', 'predict_linear(v range-vector, t scalar)', 'value t seconds from now'],
  ['present_over_time', 'present_over_time(v range-vector)', '1 for series with samples in the range'],
  ['quantile_over_time', 'quantile_over_time(φ scalar, v range-vector)', 'φ-quantile over the range'],
  ['rad', 'rad(v instant-vector)', 'degrees to radians'],
  ['rate', 'rate(v range-vector)', 'per-second rate of a counter'],
  ['resets', 'resets(v range-vector)', 'counter resets in the range'],
  ['round', 'round(v instant-vector, to_nearest=1 scalar)', 'round to the nearest multiple'],
  ['scalar', 'scalar(v instant-vector)', 'the single element as a scalar'],
  ['sgn', 'sgn(v instant-vector)', 'sign: -1, 0 or 1'],
  ['sin', 'sin(v instant-vector)', 'sine'],
  ['sinh', 'sinh(v instant-vector)', 'hyperbolic sine'],
  ['sort', 'sort(v instant-vector)', 'ascending by value'],
  ['sort_by_label', 'sort_by_label(v instant-vector, label string...)', 'ascending by label values'],
  ['sort_by_label_desc', 'sort_by_label_desc(v instant-vector, label string...)', 'descending by label values'],
  ['sort_desc', 'sort_desc(v instant-vector)', 'descending by value'],
  ['sqrt', 'sqrt(v instant-vector)', 'square root'],
  ['stddev_over_time', 'stddev_over_time(v range-vector)', 'standard deviation over the range'],
  ['stdvar_over_time', 'stdvar_over_time(v range-vector)', 'variance over the range'],
  ['sum_over_time', 'sum_over_time(v range-vector)', 'sum over the range'],
  ['tan', 'tan(v instant-vector)', 'tangent'],
  ['tanh', 'tanh(v instant-vector)', 'hyperbolic tangent'],
  ['time', 'time()', 'evaluation time in seconds'],
  ['timestamp', 'timestamp(v instant-vector)', 'sample timestamps in seconds'],
  ['vector', 'vector(s scalar)', 'the scalar as a vector without labels'],
  ['year', 'year(v=vector(time()) instant-vector)', 'year (UTC)'],
];

/** [name, signature] of the aggregation operators. */
export const AGGREGATIONS = [
  ['sum', 'sum [by|without (labels)] (v)'],
  ['avg', 'avg [by|without (labels)] (v)'],
  ['min', 'min [by|without (labels)] (v)'],
  ['max', 'max [by|without (labels)] (v)'],
  ['count', 'count [by|without (labels)] (v)'],
  ['group', 'group [by|without (labels)] (v)'],
  ['stddev', 'stddev [by|without (labels)] (v)'],
  ['stdvar', 'stdvar [by|without (labels)] (v)'],
  ['topk', 'topk(k, v)'],
  ['bottomk', 'bottomk(k, v)'],
  ['quantile', 'quantile(φ, v)'],
  ['count_values', 'count_values("label", v)'],
  ['limitk', 'limitk(k, v)'],
  ['limit_ratio', 'limit_ratio(ratio, v)'],
];

/** [keyword, what it does]. */
export const KEYWORDS = [
  ['by', 'aggregate keeping these labels'],
  ['without', 'aggregate dropping these labels'],
  ['on', 'match series on these labels'],
  ['ignoring', 'match series ignoring these labels'],
  ['group_left', 'many-to-one matching'],
  ['group_right', 'one-to-many matching'],
  ['bool', 'comparison returns 0 or 1'],
  ['offset', 'shift the evaluation time back'],
  ['and', 'intersection'],
  ['or', 'union'],
  ['unless', 'complement'],
];

/** Range durations offered inside `[...]`. */
export const DURATIONS = ['1m', '5m', '10m', '15m', '30m', '1h', '3h', '6h', '12h', '1d', '1w'];

const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const IDENT = /[a-zA-Z0-9_:]/;
const QUOTES = new Set(['"', "'", '`']);

function identBefore(text, end) {
  let j = end;
  while (j > 0 && /\s/.test(text[j - 1])) j--;
  let i = j;
  while (i > 0 && IDENT.test(text[i - 1])) i--;
  return text.slice(i, j);
}

/**
 * Parses the complete `name op "value"` matchers of a brace body (the text between `{`
 * and the cursor), keeping them as written.
 */
function matchersIn(body) {
  const out = [];
  const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)\s*,?/y;
  let m;
  while ((m = re.exec(body)) !== null) out.push({ name: m[1], op: m[2], text: `${m[1]}${m[2]}${m[3]}` });
  return out;
}

/**
 * What may be typed at `cursor`:
 * {kind: 'metric'|'labelName'|'labelValue'|'grouping'|'duration'|null, from, word,
 *  metric?, label?, op?, quote?, matchers?: ['name="v"', ...], selectors: [metric names]}.
 * 'metric' also stands for functions, aggregations and keywords.
 */
export function promqlContext(text, cursor) {
  const stack = []; // {ch, pos, metric?, grouping?}
  let str = null; // {q, pos}
  const metrics = [];
  for (let i = 0; i < cursor; i++) {
    const c = text[i];
    if (str) {
      if (c === '\\' && str.q !== '`') { i++; continue; }
      if (c === str.q) str = null;
      continue;
    }
    if (c === '#') { // a comment runs to the end of the line
      const nl = text.indexOf('\n', i);
      if (nl < 0 || nl >= cursor) return { kind: null, from: cursor, word: '', selectors: metrics };
      i = nl;
      continue;
    }
    if (QUOTES.has(c)) { str = { q: c, pos: i }; continue; }
    if (c === '{') {
      const metric = identBefore(text, i);
      if (metric && !GROUPING.has(metric)) metrics.push(metric);
      stack.push({ ch: c, pos: i, metric: GROUPING.has(metric) ? '' : metric });
    } else if (c === '(') {
      stack.push({ ch: c, pos: i, grouping: GROUPING.has(identBefore(text, i)) });
    } else if (c === '[') {
      stack.push({ ch: c, pos: i });
    } else if (c === '}' || c === ')' || c === ']') {
      stack.pop();
    } else if (IDENT.test(c) && (i === 0 || !IDENT.test(text[i - 1]))) {
      // a bare metric name: an identifier not followed by `(` and not a keyword
      let j = i;
      while (j < text.length && IDENT.test(text[j])) j++;
      const word = text.slice(i, j);
      let k = j;
      while (k < text.length && /\s/.test(text[k])) k++;
      const top = stack[stack.length - 1];
      const inLabels = top && (top.ch === '{' || top.grouping);
      if (j < cursor && !inLabels && /^[a-zA-Z_:]/.test(word) && text[k] !== '(' && text[k] !== '{'
        && !GROUPING.has(word) && !KEYWORDS.some(([kw]) => kw === word)
        && !AGGREGATIONS.some(([a]) => a === word)) metrics.push(word);
    }
  }
  const top = stack[stack.length - 1];
  const base = { selectors: [...new Set(metrics)] };
  if (str) {
    if (!top || top.ch !== '{') return { ...base, kind: null, from: cursor, word: '' };
    const before = text.slice(top.pos + 1, str.pos);
    const m = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*$/.exec(before);
    if (!m) return { ...base, kind: null, from: cursor, word: '' };
    const others = matchersIn(before.slice(0, m.index)).map((x) => x.text);
    return {
      ...base, kind: 'labelValue', from: str.pos + 1, word: text.slice(str.pos + 1, cursor),
      metric: top.metric, label: m[1], op: m[2], quote: str.q, matchers: others,
    };
  }
  let from = cursor;
  while (from > 0 && IDENT.test(text[from - 1])) from--;
  const word = text.slice(from, cursor);
  if (top && top.ch === '{') {
    const body = text.slice(top.pos + 1, from);
    const op = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*$/.exec(body);
    if (op) {
      // `job=` with no quote yet: values are offered quoted
      const others = matchersIn(body.slice(0, op.index)).map((x) => x.text);
      return { ...base, kind: 'labelValue', from, word, metric: top.metric, label: op[1], op: op[2], quote: '', matchers: others };
    }
    if (/(^|,)\s*$/.test(body)) {
      return { ...base, kind: 'labelName', from, word, metric: top.metric, matchers: matchersIn(body).map((x) => x.text) };
    }
    return { ...base, kind: null, from, word };
  }
  if (top && top.ch === '(' && top.grouping) {
    if (/(\(|,)\s*$/.test(text.slice(0, from))) return { ...base, kind: 'grouping', from, word };
    return { ...base, kind: null, from, word };
  }
  if (top && top.ch === '[') {
    const w = /[0-9a-zA-Z_$]*$/.exec(text.slice(0, cursor))[0];
    return { ...base, kind: 'duration', from: cursor - w.length, word: w };
  }
  if (/^[0-9]/.test(word)) return { ...base, kind: null, from, word };
  return { ...base, kind: 'metric', from, word };
}

/** Escapes a label value for a string literal quoted with `q`. */
export function quoteValue(v, q = '"') {
  if (q === '`') return v;
  return v.replace(/\\/g, '\\\\').replace(new RegExp(q, 'g'), `\\${q}`).replace(/\n/g, '\\n');
}

/** Escapes regex metacharacters so a value matches itself under `=~`. */
export function regexEscape(v) {
  return v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Orders `names` for `word`: prefix matches first, then other substring matches. */
function rank(names, word, toItem) {
  const w = word.toLowerCase();
  const pre = []; const sub = [];
  for (const n of names) {
    const l = n.toLowerCase();
    if (l.startsWith(w)) pre.push(n); else if (w && l.includes(w)) sub.push(n);
  }
  return [...pre, ...sub].map(toItem);
}

/**
 * promqlSupport(api, {ttlMs}) -> {complete(text, cursor), validate(text), prefetch()}
 * for createEditor. API answers are cached per tenant for `ttlMs` (30 s).
 */
export function promqlSupport(api, { ttlMs = 30000 } = {}) {
  const cache = new Map();
  function cached(path, params, method = 'prom') {
    const key = `${api.tenant()}\u0000${path}\u0000${JSON.stringify(params || {})}`;
    const hit = cache.get(key);
    if (hit && Date.now() - hit.at < ttlMs) return hit.value;
    const call = method === 'get'
      ? api.get(path, params).then((b) => (b && typeof b === 'object' ? b.data : null))
      : api.prom(path, params);
    const value = call.then((d) => d, (e) => { cache.delete(key); throw e; });
    cache.set(key, { at: Date.now(), value });
    return value;
  }
  const metricNames = () => cached('/api/v1/label/__name__/values').then((d) => d || []);
  // GET only, as in Prometheus
  const metadata = () => cached('/api/v1/metadata', null, 'get').then((d) => d || {}, () => ({}));
  const selectorFor = (metric, matchers = []) => {
    if (!matchers.length) return metric || null;
    return `${metric || ''}{${matchers.join(',')}}`;
  };

  async function labelNames(metrics, matchers = []) {
    const match = metrics.length ? metrics.map((m) => selectorFor(m, matchers)) : (matchers.length ? [selectorFor('', matchers)] : undefined);
    const names = await cached('/api/v1/labels', match ? { 'match[]': match } : {});
    return (names || []).filter((n) => n !== '__name__');
  }

  async function complete(text, cursor) {
    const c = promqlContext(text, cursor);
    switch (c.kind) {
      case 'metric': {
        if (!c.word) return null;
        const [names, meta] = await Promise.all([metricNames(), metadata()]);
        const items = [
          ...rank(names, c.word, (n) => ({ label: n, detail: (meta[n] && meta[n][0] && meta[n][0].type) || 'metric' })),
          ...rank(AGGREGATIONS.map(([n]) => n), c.word, (n) => ({ label: n, detail: AGGREGATIONS.find(([a]) => a === n)[1] })),
          ...rank(FUNCTIONS.map(([n]) => n), c.word, (n) => {
            const f = FUNCTIONS.find(([x]) => x === n);
            return { label: n, detail: f[1], insert: `${n}(` };
          }),
          ...rank(KEYWORDS.map(([n]) => n), c.word, (n) => ({ label: n, detail: KEYWORDS.find(([k]) => k === n)[1] })),
        ];
        const exact = items.length === 1 && items[0].label === c.word;
        return items.length && !exact ? { from: c.from, items } : null;
      }
      case 'labelName': {
        const names = await labelNames(c.metric ? [c.metric] : [], c.matchers);
        const items = rank(names, c.word, (n) => ({ label: n, detail: 'label' }));
        return items.length ? { from: c.from, items } : null;
      }
      case 'grouping': {
        // `sum by (|) (rate(x[5m]))`: the selectors after the cursor count too
        const names = await labelNames(promqlContext(`${text} `, text.length + 1).selectors);
        const items = rank(names, c.word, (n) => ({ label: n, detail: 'label' }));
        return items.length ? { from: c.from, items } : null;
      }
      case 'labelValue': {
        const sel = selectorFor(c.metric, c.matchers);
        const values = await cached(`/api/v1/label/${encodeURIComponent(c.label)}/values`, sel ? { 'match[]': sel } : {});
        const regex = c.op === '=~' || c.op === '!~';
        const q = c.quote || '"';
        const closed = c.quote && text[cursor] === c.quote;
        const items = rank(values || [], c.word, (v) => {
          const body = quoteValue(regex ? regexEscape(v) : v, q);
          return { label: v, detail: c.label, insert: c.quote ? (closed ? body : body + q) : `${q}${body}${q}` };
        });
        return items.length ? { from: c.from, items } : null;
      }
      case 'duration': {
        const items = DURATIONS.filter((d) => d.startsWith(c.word) && d !== c.word).map((d) => ({ label: d, detail: 'range' }));
        return items.length ? { from: c.from, items } : null;
      }
      default:
        return null;
    }
  }

  /** null when the server parses `text`, else {message} with Prometheus's parse error. */
  async function validate(text) {
    try {
      await api.get('/api/v1/format_query', { query: text });
      return null;
    } catch (e) {
      if (e instanceof api.ApiError && e.status === 400) {
        return { message: e.message.replace(/^invalid parameter "query": /, '') };
      }
      return null; // the server being unreachable is not a syntax error
    }
  }

  return { complete, validate, prefetch: () => metricNames().catch(() => []) };
}

"use strict";
// otel-exec trace viewer: every value from the program is set with textContent, never as HTML.
(() => {
  let DATA = JSON.parse(document.getElementById("otel-exec-data").textContent);
  let SPANS = DATA.spans;  // DATA and what is indexed from it change when a served page follows
  const [ID, PARENT, TRACE, NAME, KIND, FRAMEWORK, SERVICE, START, DURATION, STATUS, DESCRIPTION,
    ATTRIBUTES, EVENTS, LINKS, SCOPE, ABSENT_PARENT] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
    14, 15];
  const FAILED = new Set(DATA.failed_statuses);
  const WARN = new Set(["skipped", "cancelled", "paused", "unfinished"]);
  const ROW = 22;

  // ---------------------------------------------------------------- helpers
  // Control and format characters (terminal escapes, bidi overrides, line separators) are shown
  // as escapes, as the terminal views show them; new lines and tabs stay.
  const HIDDEN = /[^\P{C}\n\t]|[\p{Zl}\p{Zp}]/gu;
  const escape = (char) => {
    const code = char.codePointAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  };
  const literal = (text) => String(text).replace(HIDDEN, escape);

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null) continue;
      if (key === "text") node.textContent = literal(value);
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, key === "title" ? literal(value) : value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(typeof child === "string" ? literal(child) : child);
    }
    return node;
  }
  const tone = (status) => FAILED.has(status) ? "error" : WARN.has(status) ? "warn"
    : status === "running" ? "running" : "ok";
  const failed = (i) => FAILED.has(SPANS[i][STATUS]);
  const end = (i) => SPANS[i][START] + Math.max(SPANS[i][DURATION], 0);
  function duration(us) {
    if (us < 0) return "running";
    if (us < 1000) return `${us} µs`;
    if (us < 1e6) return `${(us / 1000).toFixed(us < 1e4 ? 2 : 1)} ms`;
    return `${(us / 1e6).toFixed(us < 1e7 ? 3 : 1)} s`;
  }
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  function clock(epochMs, millis) {
    const d = new Date(epochMs);
    const text = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    return millis ? `${text}.${pad(d.getMilliseconds(), 3)}` : text;
  }
  const spanTime = (us) => DATA.origin_ms + us / 1000;
  function isoDate(epochMs) {
    const d = new Date(epochMs);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(epochMs, true)}`;
  }
  const show = (value) => typeof value === "string" ? value : JSON.stringify(value);

  // ---------------------------------------------------------------- index
  let children, bySpanId, traces;
  function index() {
    SPANS = DATA.spans;
    children = Array.from({ length: SPANS.length }, () => null);
    bySpanId = new Map();
    traces = DATA.traces.map((id) => ({ id, first: -1, last: -1, roots: [], start: Infinity,
      end: -Infinity, errors: 0, partial: false }));
    SPANS.forEach((span, i) => {
      const trace = traces[span[TRACE]];
      if (trace.first < 0) trace.first = i;
      trace.last = i;
      trace.start = Math.min(trace.start, span[START]);
      trace.end = Math.max(trace.end, end(i));
      if (failed(i)) trace.errors += 1;
      if (span[PARENT] < 0) trace.roots.push(i);
      if (span[ABSENT_PARENT]) trace.partial = true;  // its root has not arrived (yet)
      else (children[span[PARENT]] ||= []).push(i);
      if (!bySpanId.has(span[ID])) bySpanId.set(span[ID], i);
    });
  }
  index();

  const OPENED_AT = new URLSearchParams(location.hash.slice(1));  // read before any selection

  // ---------------------------------------------------------------- state
  const state = { trace: -1, selected: -1, zoom: -1, window: null, critical: false, collapsed: new Set(), rows: [],
    filter: { text: "", attribute: null, status: "all", kind: "", framework: "" }, shownTraces: [], match: null };

  function matches(i) {
    const f = state.filter, span = SPANS[i];
    if (f.kind && span[KIND] !== f.kind) return false;
    if (f.framework && span[FRAMEWORK] !== f.framework) return false;
    if (f.status === "error" && !failed(i)) return false;
    if (f.status === "ok" && failed(i)) return false;
    if (f.slowest && span[DURATION] >= 0 && span[DURATION] < f.slowest) return false;
    return textMatches(i, span[NAME]);
  }
  // The search box: "run_id=r-42" (an attribute and its whole value), or text found in a
  // name, an attribute's value or an event's (an exception's message), or a span or trace id.
  function textMatches(i, name) {
    const f = state.filter;
    if (!f.text) return true;
    if (f.attribute) {
      const value = i >= 0 ? SPANS[i][ATTRIBUTES][f.attribute[0]] : undefined;
      return value !== undefined && show(value).toLowerCase() === f.attribute[1];
    }
    if (name.toLowerCase().includes(f.text)) return true;
    if (i < 0) return false;
    const span = SPANS[i];
    if (span[ID] === f.text || DATA.traces[span[TRACE]] === f.text) return true;
    const found = (attributes) => Object.values(attributes).some(
      (value) => show(value).toLowerCase().includes(f.text));
    return found(span[ATTRIBUTES]) || span[EVENTS].some(([, , attributes]) => found(attributes));
  }
  const filtering = () => Boolean(state.filter.text || state.filter.kind ||
    state.filter.framework || state.filter.status !== "all" || state.filter.slowest);

  // ---------------------------------------------------------------- virtual list
  class VirtualList {
    constructor(host, renderRow) {
      this.host = host; this.renderRow = renderRow; this.count = 0; this.pending = false;
      this.spacer = el("div"); this.layer = el("div", { class: "layer" });
      host.append(this.spacer, this.layer);
      host.addEventListener("scroll", () => this.schedule());
      new ResizeObserver(() => this.schedule()).observe(host);
    }
    setCount(count) {
      this.count = count;
      this.host.dataset.count = String(count);
      this.spacer.style.height = `${count * ROW}px`;
      this.draw();
    }
    schedule() {  // scrolled or resized: the rows still in sight stay as they are
      if (this.pending) return;
      this.pending = true;
      requestAnimationFrame(() => { this.pending = false; this.draw(true); });
    }
    // Draw the rows in sight (and a few more). ``keep``: rows already drawn are not drawn
    // again, so a row under a click that has begun is still there when it ends.
    draw(keep) {
      const top = this.host.scrollTop, height = this.host.clientHeight || 800;
      const first = Math.max(0, Math.floor(top / ROW) - 8);
      const last = Math.min(this.count, Math.ceil((top + height) / ROW) + 8);
      const drawn = keep ? this.drawn : new Map();
      const make = (i) => {
        const row = this.renderRow(i);
        row.style.top = `${i * ROW}px`;
        drawn.set(i, row);
        return row;
      };
      if (!keep) {
        const rows = [];
        for (let i = first; i < last; i++) rows.push(make(i));
        this.layer.replaceChildren(...rows);
      } else {
        for (const [i, row] of drawn) if (i < first || i >= last) { row.remove(); drawn.delete(i); }
        const low = drawn.size ? Math.min(...drawn.keys()) : last, above = [], below = [];
        for (let i = first; i < last; i++) if (!drawn.has(i)) (i < low ? above : below).push(make(i));
        this.layer.prepend(...above);
        this.layer.append(...below);
      }
      this.drawn = drawn;
    }
    reveal(i) {
      const top = i * ROW, host = this.host;
      if (top < host.scrollTop) host.scrollTop = top;
      else if (top + ROW > host.scrollTop + host.clientHeight) host.scrollTop = top + ROW - host.clientHeight;
      this.draw();
    }
  }

  // ---------------------------------------------------------------- trace list
  const traceList = new VirtualList(document.getElementById("trace-list"), (row) => {
    const t = state.shownTraces[row], trace = traces[t], root = trace.roots[0] ?? trace.first;
    const more = trace.roots.length > 1 ? ` (+${trace.roots.length - 1} roots)` : "";
    const status = SPANS[root][STATUS];
    return el("div", { class: `row trace-row${t === state.trace ? " selected" : ""}`,
      "data-trace": trace.id, "data-spans": trace.last - trace.first + 1,
      role: "option", tabindex: "0", "aria-selected": String(t === state.trace),
      onclick: () => selectTrace(t),
      onkeydown: (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); selectTrace(t); } } },
    el("span", { text: SPANS[root][NAME] + more + (trace.partial ? " · partial" : ""),
      title: trace.partial ? `${trace.id}: a parent span is not here (still running, or sent `
        + "elsewhere)" : trace.id }),
    el("span", { text: SPANS[root][SERVICE] }),
    el("span", { text: isoDate(spanTime(trace.start)).slice(5, 19) }),
    el("span", { class: "num", text: duration(trace.end - trace.start) }),
    el("span", { class: "num", text: String(trace.last - trace.first + 1) }),
    el("span", { class: `status ${trace.errors ? "error" : tone(status)}`,  // a failure anywhere
      text: trace.errors ? `${status} · ${trace.errors} failed` : status }));
  });

  const SORTS = {  // largest first; "newest" is the file's order, newest first
    slowest: (trace) => trace.end - trace.start,
    spans: (trace) => trace.last - trace.first + 1,
    failures: (trace) => trace.errors,
  };

  function refreshTraces() {
    state.match = filtering() ? new Uint8Array(SPANS.length) : null;
    const keep = new Set();
    if (state.match) {
      for (let i = 0; i < SPANS.length; i++) {
        if (matches(i)) { state.match[i] = 1; keep.add(SPANS[i][TRACE]); }
      }
    }
    state.shownTraces = traces.map((_, t) => t).filter((t) => !state.match || keep.has(t))
      .reverse();
    const order = SORTS[document.getElementById("trace-sort").value];
    if (order) state.shownTraces.sort((a, b) => order(traces[b]) - order(traces[a]) || b - a);
    document.getElementById("counts").textContent = `${SPANS.length} spans · ${traces.length} ` +
      `traces${state.match ? ` · ${state.shownTraces.length} match` : ""}`;
    traceList.setCount(state.shownTraces.length);
    if (!state.shownTraces.includes(state.trace)) {
      if (state.shownTraces.length) selectTrace(state.shownTraces[0]);
      else { state.trace = -1; state.selected = -1; state.rows = []; drawWaterfall(); clearDetails(); }
    } else drawWaterfall();
  }

  // ---------------------------------------------------------------- waterfall
  const waterfallHost = document.getElementById("waterfall");
  const waterfall = new VirtualList(waterfallHost, (row) => {
    const [i, depth] = state.rows[row], span = SPANS[i];
    const [from, to] = windowOf();
    const scale = 100 / Math.max(to - from, 1);
    if (i < 0) return placeholder(state.rows[row], from, to, scale);
    const running = span[DURATION] < 0;  // drawn to the end of what the trace shows
    const finish = running ? Math.max(to, span[START]) : end(i);
    const outside = finish < from || span[START] > to;  // zoomed past it: no bar, a note
    const left = Math.min(Math.max((span[START] - from) * scale, 0), 100);
    const right = Math.min(Math.max((finish - from) * scale, 0), 100);
    const open = children[i] && !state.collapsed.has(i);
    const dim = state.match && !state.match[i];
    const indent = Math.min(depth, MAX_INDENT);  // deeper levels say their depth instead
    const critical = state.critical && criticalPath().has(i);
    return el("div", { class: `row span-row${i === state.selected ? " selected" : ""}${dim ? " dim" : ""}`
      + (critical ? " critical" : ""), "data-critical": critical ? "true" : null,
      "data-span": span[ID], "data-status": span[STATUS], "data-kind": span[KIND],
      role: "treeitem", "aria-level": String(depth + 1), "aria-selected": String(i === state.selected),
      onclick: () => selectSpan(i), ondblclick: () => zoomTo(i) },
    el("span", { class: "label", style: `padding-left:${6 + indent * 14}px;--guides:${indent * 14}px` },
      depth > MAX_INDENT ? el("span", { class: "depth", text: `${depth}›`, title: `depth ${depth}` }) : null,
      el("span", { class: "toggle", text: children[i] ? (open ? "▾" : "▸") : "",
        onclick: (event) => { event.stopPropagation(); toggle(i); } }),
      el("span", { class: "kind", text: span[KIND] }),
      el("span", { class: "name", text: span[NAME], title: span[NAME] })),
    el("span", { class: "lane" }, ...(outside
      ? [el("span", { class: "bar-label outside", style: "left:0", text: span[START] > to
        ? "after the zoomed span" : "before the zoomed span" })]
      : [el("span", { class: `bar ${running ? "running" : tone(span[STATUS])}`,
        style: `left:${left}%;width:${Math.max(right - left, 0.15)}%`,
        title: `${span[NAME]}: ${duration(span[DURATION])}` }),
      el("span", { class: "bar-label", style: labelPlace(left, right), text: duration(span[DURATION]) }),
      ...markers(span, from, scale)])));
  });

  // A parent that has not arrived: still running (its end is what makes it exported), or
  // in a process that sends its spans elsewhere. Drawn running from its first child on.
  function placeholder([, , absent, roots], from, to, scale) {
    const start = Math.min(...roots.map((i) => SPANS[i][START]));
    const left = Math.min(Math.max((start - from) * scale, 0), 100);
    const text = `parent ${absent} · not here yet (running, or sent elsewhere)`;
    return el("div", { class: "row span-row placeholder", "data-placeholder": absent, role: "treeitem",
      "aria-level": "1" },
    el("span", { class: "label" }, el("span", { class: "toggle" }),
      el("span", { class: "name muted", text, title: text })),
    el("span", { class: "lane" }, el("span", { class: "bar running", style: `left:${left}%;width:${Math.max(100 - left, 0.15)}%` }),
      el("span", { class: "bar-label", style: labelPlace(left, 100), text: "running?" })));
  }

  // Events on the bar: a tick where each happened (an exception, a retry, a log record...).
  const MAX_MARKERS = 50;
  function markers(span, from, scale) {
    return span[EVENTS].slice(0, MAX_MARKERS).map(([name, at, attributes]) => {
      const place = Math.min(Math.max((at - from) * scale, 0), 100);
      const kind = name === "exception" ? "error" : name === "log" ? "log" : "event";
      const detail = attributes["exception.type"] ?? attributes["log.message"] ?? "";
      return el("span", { class: `marker ${kind}`, style: `left:${place}%`, "data-event": name,
        title: detail ? `${name}: ${detail}` : name });
    });
  }
  const MAX_INDENT = 12;

  function labelPlace(left, right) {
    if (right <= 85) return `left:${right}%`;
    if (left >= 15) return `right:${100 - left}%;padding-right:4px`;
    return `left:${left}%;color:#fff`;
  }

  function windowOf() {
    if (state.window) return state.window;
    if (state.zoom >= 0) return [SPANS[state.zoom][START], end(state.zoom)];
    const trace = traces[state.trace];
    return trace ? [trace.start, trace.end] : [0, 1];
  }

  function flatten() {
    const trace = traces[state.trace], rows = [];
    if (!trace) return rows;
    let shown = null;
    if (state.match) {
      shown = new Uint8Array(SPANS.length);
      for (let i = trace.first; i <= trace.last; i++) {
        for (let j = i; j >= 0 && state.match[i] && !shown[j]; j = SPANS[j][PARENT]) shown[j] = 1;
      }
    }
    const seen = new Uint8Array(trace.last - trace.first + 1);
    const visit = (roots, level) => {
      const stack = roots.slice().reverse().map((i) => [i, level]);
      while (stack.length) {
        const [i, depth] = stack.pop();
        if (seen[i - trace.first] || (shown && !shown[i])) continue;
        seen[i - trace.first] = 1;
        rows.push([i, depth]);
        if (children[i] && !state.collapsed.has(i)) {
          for (let k = children[i].length - 1; k >= 0; k--) stack.push([children[i][k], depth + 1]);
        }
      }
    };
    // Spans whose parent has not arrived go under a placeholder row for it (index -1).
    const waiting = new Map();
    for (const i of trace.roots) {
      const absent = SPANS[i][ABSENT_PARENT];
      if (absent) waiting.set(absent, [...(waiting.get(absent) || []), i]);
    }
    visit(trace.roots.filter((i) => !SPANS[i][ABSENT_PARENT]), 0);
    for (const [absent, roots] of waiting) {
      if (shown && !roots.some((i) => shown[i])) continue;
      rows.push([-1, 0, absent, roots]);
      visit(roots, 1);
    }
    return rows;
  }
  // The span of the first row from ``row`` on (``step`` 1) or back (-1) that is not a placeholder.
  function spanAt(row, step) {
    for (let r = row; r >= 0 && r < state.rows.length; r += step) if (state.rows[r][0] >= 0) return state.rows[r][0];
    return -1;
  }

  // Per name in the selected trace: count, total and self time (own time minus children's).
  function drawStatistics() {
    const table = document.getElementById("trace-stats"), trace = traces[state.trace];
    if (table.hidden || !trace) return;
    const byName = new Map();
    for (let i = trace.first; i <= trace.last; i++) {
      if (SPANS[i][TRACE] !== state.trace) continue;
      const own = Math.max(SPANS[i][DURATION], 0);
      const kids = (children[i] || []).reduce((sum, k) => sum + Math.max(SPANS[k][DURATION], 0), 0);
      const row = byName.get(SPANS[i][NAME]) || { count: 0, total: 0, self: 0, failed: 0 };
      row.count += 1; row.total += own; row.self += Math.max(own - kids, 0); row.failed += failed(i);
      byName.set(SPANS[i][NAME], row);
    }
    const rows = [...byName].sort((a, b) => b[1].self - a[1].self);
    table.replaceChildren(el("tr", {}, ...["Name", "Count", "Failed", "Total", "Self time"].map((h) => el("th", { text: h }))),
      ...rows.map(([name, row]) => el("tr", {}, el("td", { text: name }), el("td", { text: String(row.count) }),
        el("td", { text: String(row.failed) }), el("td", { text: duration(row.total) }),
        el("td", { text: duration(row.self) }))));
  }

  function drawAxis() {  // times from the trace's start, zoomed or not
    const axis = document.getElementById("axis"), [from, to] = windowOf();
    const start = traces[state.trace] ? traces[state.trace].start : from;
    axis.replaceChildren(resizer, ...[0, 0.25, 0.5, 0.75, 1].map((f) =>
      el("span", { style: `left:${f * 100}%`,
        text: duration(Math.round(from - start + (to - from) * f)) })));
  }

  function drawWaterfall() {
    state.rows = flatten();
    const trace = traces[state.trace];
    const title = document.getElementById("waterfall-title");
    if (trace) {
      const root = trace.roots[0] ?? trace.first;
      title.textContent = literal(`${SPANS[root][NAME]} · ${trace.last - trace.first + 1} spans · ` +
        `${duration(trace.end - trace.start)} · trace ${trace.id}` +
        (state.zoom >= 0 ? ` · zoomed to ${SPANS[state.zoom][NAME]}` : "") +
        (state.window ? ` · zoomed to ${duration(Math.round(state.window[0] - trace.start))}–` +
          `${duration(Math.round(state.window[1] - trace.start))}` : ""));
    } else title.textContent = "No trace matches the filters.";
    document.getElementById("unzoom").hidden = state.zoom < 0 && !state.window;
    drawAxis();
    drawMinimap(state.rows);
    drawStatistics();
    waterfall.setCount(state.rows.length);
  }

  function selectTrace(t, keepSpan) {
    state.trace = t; state.zoom = -1; state.window = null; state.collapsed.clear();
    if (!keepSpan) state.selected = -1;
    traceList.draw();
    drawWaterfall();
    if (!keepSpan && spanAt(0, 1) >= 0) selectSpan(spanAt(0, 1));
  }

  function selectSpan(i) {
    state.selected = i;
    const address = `#trace=${traces[state.trace]?.id ?? ""}&span=${SPANS[i][ID]}`;
    if (location.hash !== address) history.replaceState(null, "", address);
    const row = state.rows.findIndex(([j]) => j === i);
    if (row >= 0) waterfall.reveal(row); else waterfall.draw();
    drawDetails(i);
  }

  function toggle(i, open) {
    if (!children[i]) return;
    const collapse = open === undefined ? !state.collapsed.has(i) : !open;
    if (collapse) state.collapsed.add(i); else state.collapsed.delete(i);
    drawWaterfall();
  }

  function zoomTo(i) { state.zoom = i; state.window = null; drawWaterfall(); }
  function unzoom() { state.zoom = -1; state.window = null; drawWaterfall(); }

  // The critical path: from a root's end back, the child that finished last before that
  // point, then the one that finished last before its start, and so on, and the same within
  // each of them (Jaeger's definition). A running span counts as running to the trace's end.
  let critical = null;  // [trace, the spans on its path], for the trace drawn
  function criticalPath() {
    if (critical && critical[0] === state.trace) return critical[1];
    const on = new Set(), trace = traces[state.trace];
    const finish = (i) => (SPANS[i][DURATION] < 0 ? trace.end : end(i));
    const stack = trace ? trace.roots.map((i) => [i, Infinity]) : [];
    while (stack.length) {
      const [i, until] = stack.pop();
      on.add(i);
      let cursor = Math.min(finish(i), until);
      const kids = (children[i] || []).slice().sort((a, b) => finish(b) - finish(a));
      for (const k of kids) {
        if (SPANS[k][START] >= cursor) continue;  // ran beside a later one that took longer
        stack.push([k, cursor]);
        cursor = SPANS[k][START];
      }
    }
    critical = [state.trace, on];
    return on;
  }

  // ---------------------------------------------------------------- minimap
  // The whole trace small: a line per row at its time. A click scrolls the waterfall to that
  // row; a drag across zooms to the time dragged over.
  const minimap = document.getElementById("minimap");
  const bars = document.createElement("canvas");  // the rows' lines, drawn once per waterfall
  // Draw the rows into ``bars`` (``rows``: the waterfall changed), then the minimap from it
  // with the zoom shaded and the rows in sight framed: scrolling redraws only the frame.
  function drawMinimap(rows) {
    const trace = traces[state.trace], width = minimap.clientWidth || 600;
    const height = minimap.clientHeight || 40, ratio = devicePixelRatio;
    const style = getComputedStyle(document.documentElement);
    if (rows) {
      minimap.dataset.rows = String(rows.length);
      bars.width = minimap.width = width * ratio;
      bars.height = minimap.height = height * ratio;
      const context = bars.getContext("2d");
      if (!context || !trace) return;
      context.setTransform(ratio, 0, 0, ratio, 0, 0);
      const span = Math.max(trace.end - trace.start, 1), line = Math.max(height / Math.max(rows.length, 1), 1);
      const colours = { ok: style.getPropertyValue("--ok"), error: style.getPropertyValue("--error"),
        warn: style.getPropertyValue("--warn"), running: style.getPropertyValue("--running") };
      rows.forEach(([i], row) => {
        if (i < 0) return;
        const x = (SPANS[i][START] - trace.start) / span * width;
        const w = ((SPANS[i][DURATION] < 0 ? trace.end : end(i)) - SPANS[i][START]) / span * width;
        context.fillStyle = colours[SPANS[i][DURATION] < 0 ? "running" : tone(SPANS[i][STATUS])];
        context.fillRect(x, row / rows.length * height, Math.max(w, 1), line);
      });
    }
    const context = minimap.getContext("2d");
    if (!context) return;
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.clearRect(0, 0, minimap.width, minimap.height);
    if (!trace || !state.rows.length) return;
    context.drawImage(bars, 0, 0);
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    const span = Math.max(trace.end - trace.start, 1), [from, to] = windowOf();
    context.fillStyle = "rgba(128, 128, 128, 0.25)";  // outside the zoom: shaded
    context.fillRect(0, 0, (from - trace.start) / span * width, height);
    context.fillRect((to - trace.start) / span * width, 0, width, height);
    const host = waterfallHost, all = Math.max(state.rows.length * ROW, 1);  // the rows in sight
    context.strokeStyle = style.getPropertyValue("--fg");
    context.strokeRect(0.5, host.scrollTop / all * height + 0.5, width - 1,
      Math.max(Math.min(host.clientHeight / all, 1) * height - 1, 2));
  }
  minimap.addEventListener("pointerdown", (down) => {
    const trace = traces[state.trace];
    if (!trace) return;
    const box = minimap.getBoundingClientRect();
    const at = (event) => Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1);
    const began = at(down);
    minimap.setPointerCapture(down.pointerId);
    const up = (event) => {
      minimap.removeEventListener("pointerup", up);
      const ended = at(event), span = trace.end - trace.start;
      if (Math.abs(ended - began) * box.width >= 5) {  // a drag: zoom to it
        state.zoom = -1;
        state.window = [trace.start + Math.min(began, ended) * span, trace.start + Math.max(began, ended) * span];
        drawWaterfall();
      } else {  // a click: that row in the middle of the waterfall
        const row = Math.floor((event.clientY - box.top) / box.height * state.rows.length);
        waterfallHost.scrollTop = row * ROW - waterfallHost.clientHeight / 2;
      }
    };
    minimap.addEventListener("pointerup", up);
  });
  let framing = false;
  waterfallHost.addEventListener("scroll", () => {
    if (framing) return;
    framing = true;
    requestAnimationFrame(() => { framing = false; drawMinimap(); });
  });

  // ---------------------------------------------------------------- the names' width
  // The name column is as wide as the separator is dragged (or moved with ← →).
  const resizer = el("div", { id: "name-resizer", role: "separator", tabindex: "0",
    "aria-orientation": "vertical", "aria-label": "Width of the span names", "aria-valuemin": "10",
    "aria-valuemax": "85", "aria-valuenow": "40" });
  function nameWidth(percent) {
    const value = Math.min(Math.max(percent, 10), 85);
    document.getElementById("waterfall-pane").style.setProperty("--name-width", `${value}%`);
    resizer.setAttribute("aria-valuenow", String(Math.round(value)));
  }
  resizer.addEventListener("pointerdown", (down) => {
    down.preventDefault();
    resizer.setPointerCapture(down.pointerId);
    const pane = waterfallHost.getBoundingClientRect();
    const move = (event) => nameWidth((event.clientX - pane.left) / pane.width * 100);
    const up = () => { resizer.removeEventListener("pointermove", move); resizer.removeEventListener("pointerup", up); };
    resizer.addEventListener("pointermove", move);
    resizer.addEventListener("pointerup", up);
  });
  resizer.addEventListener("keydown", (event) => {
    const step = { ArrowLeft: -2, ArrowRight: 2 }[event.key];
    if (!step) return;
    event.preventDefault();
    event.stopPropagation();  // not the waterfall's folding keys
    nameWidth(Number(resizer.getAttribute("aria-valuenow")) + step);
  });

  function jumpTo(spanId) {
    const i = typeof spanId === "number" ? spanId : bySpanId.get(spanId);
    if (i === undefined || i < 0) return;
    showTab("traces");
    if (state.match && !state.match[i]) clearFilters();
    if (SPANS[i][TRACE] !== state.trace) selectTrace(SPANS[i][TRACE], true);
    for (let p = SPANS[i][PARENT], n = 0; p >= 0 && n < SPANS.length; p = SPANS[p][PARENT], n++) {
      state.collapsed.delete(p);
    }
    drawWaterfall();
    const t = state.shownTraces.indexOf(state.trace);
    if (t >= 0) traceList.reveal(t);
    selectSpan(i);
  }

  // ---------------------------------------------------------------- details
  const MOST_FIELDS = 200;  // a span with 100,000 attributes must not freeze the page
  function fields(pairs) {
    const list = el("dl", { class: "fields" });
    for (const [key, value] of pairs.slice(0, MOST_FIELDS)) {
      list.append(el("dt", { text: key, title: key }), el("dd", { text: show(value) }));
    }
    if (pairs.length > MOST_FIELDS) {
      list.append(el("dt", { text: "…" }),
        el("dd", { class: "muted", text: `${pairs.length - MOST_FIELDS} more not shown (the file has them all)` }));
    }
    return list;
  }

  function spanLink(i, label) {
    const target = typeof i === "number" ? (i >= 0 ? SPANS[i][ID] : "") : i;
    return el("a", { class: "jump", href: `#span=${target}`, text: label,  // Enter clicks it
      onclick: (event) => { event.preventDefault(); jumpTo(i); } });
  }

  function drawDetails(i) {
    const pane = document.getElementById("details"), span = SPANS[i];
    const attributes = span[ATTRIBUTES];
    const parts = [el("h2", { text: span[NAME] }),
      el("div", { class: `status ${tone(span[STATUS])}`, "data-field": "status",
        text: span[STATUS] + (span[DESCRIPTION] ? `: ${span[DESCRIPTION]}` : "") }),
      fields([["kind", span[KIND]], ["framework", span[FRAMEWORK]], ["service", span[SERVICE]],
        ["instrumentation scope", span[SCOPE]],
        ["start", isoDate(spanTime(span[START]))], ["duration", duration(span[DURATION])],
        ["span id", span[ID]], ["trace id", DATA.traces[span[TRACE]]]])];
    if (span[PARENT] >= 0) parts.push(el("div", {}, "parent: ", spanLink(span[PARENT], SPANS[span[PARENT]][NAME])));
    else if (span[ABSENT_PARENT]) {
      parts.push(el("div", { class: "muted", "data-field": "absent-parent",
        text: `parent: ${span[ABSENT_PARENT]}, not here (still running, or sent elsewhere)` }));
    }
    const values = [["args", attributes["exec.args"]], ["kwargs", attributes["exec.kwargs"]],
      ["result", attributes["exec.result"]]].filter(([, v]) => v !== undefined);
    if (values.length) parts.push(el("h3", { text: "Values" }), fields(values));
    const exception = span[EVENTS].filter(([name]) => name === "exception").pop();
    if (exception) {
      const e = exception[2];
      parts.push(el("h3", { text: "Exception" }),
        el("div", { class: "exception", "data-field": "exception" },
          el("strong", { text: e["exception.type"] || "Exception" }), ": ",
          el("span", { text: e["exception.message"] || "" })));
      if (e["exception.stacktrace"]) parts.push(el("pre", { text: e["exception.stacktrace"] }));
    }
    const others = span[EVENTS].filter((event) => event !== exception);
    if (others.length) {
      parts.push(el("h3", { text: `Events (${others.length})` }));
      for (const [name, at, eventAttributes] of others) {
        if (name === "log") {  // a log record kept with the execution: one line
          const severity = eventAttributes["log.severity"] || "";
          parts.push(el("div", { class: `event log${["ERROR", "CRITICAL"].includes(severity) ? " error" : ""}` },
            el("div", { text: `${severity} ${eventAttributes["log.logger"] || ""}: ${eventAttributes["log.message"] || ""}  +${duration(at - span[START])}` })));
          continue;
        }
        const bad = Object.keys(eventAttributes).some((k) => k.endsWith("error") || k.startsWith("exception"));
        parts.push(el("div", { class: `event${bad ? " error" : ""}` },
          el("div", { text: `${name}  +${duration(at - span[START])}` }),
          fields(Object.entries(eventAttributes))));
      }
    }
    if (span[LINKS].length) {
      parts.push(el("h3", { text: `Links (${span[LINKS].length})` }));
      for (const [target, spanId, linkAttributes] of span[LINKS]) {
        const label = target >= 0 ? `${SPANS[target][NAME]} (${spanId})` : `${spanId} (not in this file)`;
        const event = linkAttributes["routilux.event.name"];
        parts.push(el("div", { class: "link" }, target >= 0 ? spanLink(target, label) : label,
          event ? ` — event ${event}` : ""));
      }
    }
    const kids = children[i] || [];
    if (kids.length) parts.push(el("div", { class: "muted", text: `${kids.length} child span(s)` }));
    parts.push(el("h3", { text: "Attributes" }), fields(Object.entries(attributes).sort()));
    parts.splice(1, 0, el("div", { class: "copies" },
      copyButton("copy span id", span[ID]), copyButton("copy trace id", DATA.traces[span[TRACE]]),
      copyButton("copy as JSON", () => JSON.stringify(asJson(i), null, 2))));
    pane.replaceChildren(...parts);
    pane.dataset.span = span[ID];
  }

  function clearDetails() {  // nothing selected, or the selection filtered away
    const pane = document.getElementById("details");
    pane.replaceChildren(el("p", { class: "muted", text: "Select a span." }));
    delete pane.dataset.span;
  }

  function asJson(i) {
    const span = SPANS[i];
    return { name: span[NAME], span_id: span[ID], trace_id: DATA.traces[span[TRACE]],
      parent_span_id: span[PARENT] >= 0 ? SPANS[span[PARENT]][ID] : span[ABSENT_PARENT] || null,
      kind: span[KIND],
      framework: span[FRAMEWORK], service: span[SERVICE], scope: span[SCOPE],
      start: isoDate(spanTime(span[START])),
      duration_us: span[DURATION], status: span[STATUS], description: span[DESCRIPTION],
      attributes: span[ATTRIBUTES],
      events: span[EVENTS].map(([name, at, attributes]) => ({ name, at_us: at - span[START], attributes })) };
  }

  function copyButton(label, text) {
    const button = el("button", { class: "copy", type: "button", text: label });
    button.addEventListener("click", async () => {
      const value = typeof text === "function" ? text() : text;
      try {
        await navigator.clipboard.writeText(value);
        button.textContent = "copied";
      } catch (error) {  // no clipboard here: select the text instead, for Ctrl+C
        const area = el("textarea", { class: "copy-text", readonly: "readonly" });
        area.value = value;
        button.after(area);
        area.select();
        button.textContent = "selected: Ctrl+C";
      }
      setTimeout(() => { button.textContent = label; }, 1500);
    });
    return button;
  }

  // ---------------------------------------------------------------- falyx history
  let historyRows = [];
  const historyList = new VirtualList(document.getElementById("history-list"), (row) => {
    const entry = historyRows[row];
    return el("div", { class: "row history-row", "data-span": entry.span, onclick: () => jumpTo(entry.span) },
      el("span", { class: "num", text: entry.index == null ? "—" : String(entry.index) }),
      el("span", { text: entry.name }),
      el("span", { text: clock(entry.start * 1000) }),
      el("span", { text: entry.end === null ? "n/a" : clock(entry.end * 1000) }),
      el("span", { class: "num", text: entry.duration === null ? "n/a" : `${entry.duration.toFixed(3)}s` }),
      el("span", { class: `status ${tone(entry.status)}`, text: entry.status }),
      el("span", { text: entry.outcome, title: entry.outcome }));
  });

  function drawHistory() {
    const f = state.filter;
    historyRows = DATA.history.filter((entry) => textMatches(bySpanId.get(entry.span) ?? -1, entry.name) &&
      (f.status === "all" || (f.status === "error") !== entry.success));
    historyList.setCount(historyRows.length);
    const panel = document.getElementById("tab-history");
    panel.querySelector(".empty")?.remove();
    if (!DATA.history.length) panel.append(el("p", { class: "empty muted", text: "No registry entries in these spans." }));
  }

  // ---------------------------------------------------------------- FSM runs, routilux jobs
  function note(shown, total, what) {
    return shown < total ? el("p", { class: "muted", text: `The newest ${shown} of ${total} ${what}; ` +
      "filter the spans (--trace, --since) to see the others." }) : null;
  }

  function drawRuns() {
    const panel = document.getElementById("tab-runs");
    if (!DATA.runs.length) { panel.replaceChildren(el("p", { class: "empty muted", text: "No dataknobs-fsm runs in these spans." })); return; }
    const shown = DATA.runs.filter((run) => tabMatches(run.span, run.fsm, run.summary.failed_steps > 0));
    const cards = shown.reverse().map((run) => {
      const s = run.summary;
      const paths = run.paths.map((path) => el("div", { class: "path" }, ...path.flatMap((step, k) => [
        k ? el("span", { class: "arrow", text: path[k - 1].arc ? `→ ${path[k - 1].arc} →` : "→" }) : null,
        el("span", { class: `chip ${tone(step.status)}`, "data-span": step.span, tabindex: "0",
          role: "link", title: step.error || step.status, text: `${step.state} (${step.status})`,
          onclick: () => jumpTo(step.span),
          onkeydown: (event) => { if (event.key === "Enter") jumpTo(step.span); } })])));
      return el("div", { class: "card run", "data-span": run.span },
        el("h2", {}, spanLink(bySpanId.get(run.span) ?? -1, run.fsm), el("span", { class: "muted",
          text: ` ${clock(run.start * 1000)} · ${s.total_steps} steps, ${s.failed_steps} failed, ` +
            `${s.skipped_steps} skipped, ${s.total_paths} path(s)` })),
        ...paths);
    });
    panel.replaceChildren(...[note(DATA.runs.length, DATA.run_count, "runs"), filteredNote(shown.length, DATA.runs.length),
      ...cards].filter(Boolean));
  }

  // The header's search and status filter apply to the FSM runs and routilux jobs tabs too.
  function tabMatches(spanId, name, didFail) {
    const f = state.filter;
    if (f.status === "error" && !didFail) return false;
    if (f.status === "ok" && didFail) return false;
    return textMatches(bySpanId.get(spanId) ?? -1, name);
  }

  function filteredNote(shown, all) {
    return shown < all ? el("p", { class: "muted filtered", text: `${shown} of ${all} match the filters.` }) : null;
  }

  function flowOf(job) {
    const start = bySpanId.get(job.span), flow = [];
    if (start === undefined) return flow;
    const stack = [start], seen = new Set();
    while (stack.length) {
      const i = stack.pop();
      if (seen.has(i)) continue;
      seen.add(i);
      for (const [source, , attributes] of SPANS[i][LINKS]) {
        if (SPANS[i][KIND] === "routine") flow.push([source, attributes["routilux.event.name"], i]);
      }
      stack.push(...(children[i] || []));
    }
    return flow.sort((a, b) => SPANS[a[2]][START] - SPANS[b[2]][START]);
  }

  function routineName(i) {
    return i >= 0 ? (SPANS[i][ATTRIBUTES]["routilux.routine.id"] ?? SPANS[i][NAME]) : "(outside the file)";
  }

  function drawJobs() {
    const panel = document.getElementById("tab-jobs");
    if (!DATA.jobs.length) { panel.replaceChildren(el("p", { class: "empty muted", text: "No routilux jobs in these spans." })); return; }
    const shownJobs = DATA.jobs.filter((job) => tabMatches(job.span, `${job.flow} ${job.job}`, FAILED.has(job.status)));
    const cards = shownJobs.reverse().map((job) => {
      const table = el("table", { class: "plain routines" }, el("tr", {},
        ...["Routine", "Last status", "Runs", "Errors", "Error"].map((h) => el("th", { text: h }))));
      for (const row of job.states) {
        table.append(el("tr", {}, el("td", { text: row.routine }),
          el("td", { class: `status ${tone(row.status)}`, text: row.status }),
          el("td", { text: String(row.executions) }), el("td", { text: String(row.errors) }),
          el("td", { text: row.error ?? "" })));
      }
      const flow = flowOf(job).map(([source, event, target]) => el("li", { class: "flow" },
        source >= 0 ? spanLink(source, routineName(source)) : routineName(source),
        el("span", { class: "arrow", text: ` —${event ?? "data"}→ ` }), spanLink(target, routineName(target))));
      return el("div", { class: "card job", "data-span": job.span },
        el("h2", {}, spanLink(bySpanId.get(job.span) ?? -1, job.flow), el("span", { class: "muted",
          text: ` job ${job.job}: ` }), el("span", { class: `status ${tone(job.status)}`, text: job.status }),
        el("span", { class: "muted", text: `${job.duration == null ? "" : ` in ${job.duration.toFixed(3)}s`}`
          + ` · ${job.routines} routines (${job.busy.toFixed(3)}s running), ${job.deliveries} deliveries` })),
        job.error ? el("p", { class: "status error", text: job.error }) : null,
        table, el("h3", { text: "Event flow" }),
        flow.length ? el("ol", { class: "event-flow" }, ...flow) : el("p", { class: "muted", text: "No deliveries between routines." }));
    });
    panel.replaceChildren(...[note(DATA.jobs.length, DATA.job_count, "jobs"),
      filteredNote(shownJobs.length, DATA.jobs.length), ...cards].filter(Boolean));
  }

  // ---------------------------------------------------------------- tabs, filters, keys
  function showTab(name) {
    for (const button of document.querySelectorAll("#tabs button")) {
      button.setAttribute("aria-selected", String(button.dataset.tab === name));
    }
    for (const panel of document.querySelectorAll(".tab")) panel.hidden = panel.id !== `tab-${name}`;
    state.tab = name;
    if (name === "history") historyList.draw();
  }

  function applyFilters() {
    const f = state.filter;
    const typed = document.getElementById("search").value.trim();
    f.text = typed.toLowerCase();
    const pair = /^([^\s=]+)=(.*)$/.exec(typed);
    f.attribute = pair ? [pair[1], pair[2].trim().toLowerCase()] : null;
    f.status = document.getElementById("status-filter").value;
    f.slowest = Math.max(Number(document.getElementById("min-duration").value) || 0, 0) * 1000;
    f.kind = document.getElementById("kind-filter").value;
    f.framework = document.getElementById("framework-filter").value;
    // the same filters again (a change event after an input one): redrawing the lists now
    // would replace the row under a click that has begun
    const applied = JSON.stringify([f.text, f.status, f.slowest, f.kind, f.framework,
      document.getElementById("trace-sort").value]);
    if (applied === lastApplied) return;
    lastApplied = applied;
    refreshTraces();
    drawHistory();
    drawRuns();
    drawJobs();
  }
  let lastApplied = null;

  function clearFilters() {
    document.getElementById("search").value = "";
    document.getElementById("min-duration").value = "";
    for (const id of ["kind-filter", "framework-filter"]) document.getElementById(id).value = "";
    document.getElementById("status-filter").value = "all";
    applyFilters();
  }

  function fillSelect(id, values) {  // the options not there yet (a served page gains some)
    const select = document.getElementById(id);
    const there = new Set(Array.from(select.options, (option) => option.value));
    for (const value of values) if (!there.has(value)) select.append(el("option", { value, text: value }));
  }

  function onKey(event) {
    const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(event.target.tagName);
    if (event.key === "/" && !typing) { event.preventDefault(); document.getElementById("search").focus(); return; }
    if (event.key === "Escape" && typing) {
      if (event.target.id === "search" && event.target.value) {
        event.preventDefault();
        event.target.value = "";
        applyFilters();  // the list follows the emptied box
      }
      event.target.blur();
      return;
    }
    if (typing || state.tab !== "traces" || event.ctrlKey || event.metaKey || event.altKey) return;
    // a focused button or link does what it says on Enter and Space: not the waterfall's keys
    if ((event.key === "Enter" || event.key === " ") && event.target.closest("button, a")) return;
    const row = state.rows.findIndex(([i]) => i === state.selected);
    const t = state.shownTraces.indexOf(state.trace);
    const handled = {
      ArrowDown: () => spanAt(row + 1, 1) >= 0 && selectSpan(spanAt(row + 1, 1)),
      ArrowUp: () => row > 0 && spanAt(row - 1, -1) >= 0 && selectSpan(spanAt(row - 1, -1)),
      ArrowRight: () => state.selected >= 0 && toggle(state.selected, true),
      ArrowLeft: () => {
        if (state.selected < 0) return;
        if (children[state.selected] && !state.collapsed.has(state.selected)) toggle(state.selected, false);
        else if (SPANS[state.selected][PARENT] >= 0) selectSpan(SPANS[state.selected][PARENT]);
      },
      Enter: () => state.selected >= 0 && zoomTo(state.selected),
      Escape: unzoom,
      "]": () => t + 1 < state.shownTraces.length && (selectTrace(state.shownTraces[t + 1]), traceList.reveal(t + 1)),
      "[": () => t > 0 && (selectTrace(state.shownTraces[t - 1]), traceList.reveal(t - 1)),
    }[event.key];
    if (handled) { event.preventDefault(); handled(); }
  }

  document.getElementById("title").textContent = literal(DATA.title);
  fillSelect("kind-filter", DATA.kinds);
  fillSelect("framework-filter", DATA.frameworks);
  document.getElementById("tabs").addEventListener("click", (event) => {
    const tab = event.target.closest("button")?.dataset.tab;
    if (tab) showTab(tab);
  });
  let typingTimer = 0;
  document.getElementById("search").addEventListener("input", () => {
    clearTimeout(typingTimer);
    typingTimer = setTimeout(applyFilters, SPANS.length > 20000 ? 250 : 60);
  });
  for (const id of ["status-filter", "kind-filter", "framework-filter", "trace-sort", "min-duration"]) {
    document.getElementById(id).addEventListener("change", applyFilters);
  }
  document.getElementById("stats-toggle").addEventListener("click", () => {
    const table = document.getElementById("trace-stats");
    table.hidden = !table.hidden;
    drawStatistics();
  });
  document.getElementById("unzoom").addEventListener("click", unzoom);
  document.getElementById("critical-toggle").addEventListener("click", (event) => {
    state.critical = !state.critical;
    event.currentTarget.setAttribute("aria-pressed", String(state.critical));
    waterfallHost.classList.toggle("critical-on", state.critical);
    waterfall.draw();
  });
  document.getElementById("expand-all").addEventListener("click", () => { state.collapsed.clear(); drawWaterfall(); });
  document.getElementById("collapse-all").addEventListener("click", () => {
    const trace = traces[state.trace];
    if (!trace) return;
    for (let i = trace.first; i <= trace.last; i++) if (children[i]) state.collapsed.add(i);
    drawWaterfall();
  });
  document.addEventListener("keydown", onKey);
  state.tab = "traces";
  refreshTraces();
  drawHistory();
  drawRuns();
  drawJobs();
  openFromAddress();
  if (DATA.live) {
    document.body.dataset.version = String(DATA.live.version);
    followLive();
  }

  // The address holds the selected trace and span (#trace=...&span=...): a link opens them.
  function openFromAddress() {
    const wanted = OPENED_AT;
    const t = traces.findIndex((trace) => trace.id === wanted.get("trace"));
    if (t < 0) return;
    selectTrace(t);
    const i = bySpanId.get(wanted.get("span"));
    if (i !== undefined && SPANS[i][TRACE] === t) selectSpan(i);
  }

  // ---------------------------------------------------------------- live (otel-exec serve)
  // The served page asks every second whether spans arrived; if so it fetches them and redraws
  // in place: the search, filters, tab, selected trace and span, folds, zoom and every scroll
  // stay. A big store is asked less often (a few times what one update costs).
  function followLive() {
    let wait = 1000;
    const poll = async () => {
      try {
        const response = await fetch(`api/version${location.search}`, { cache: "no-store" });
        const { version } = await response.json();
        if (version !== DATA.live.version) {
          const began = performance.now();
          const next = await (await fetch(`api/data${location.search}`, { cache: "no-store" })).json();
          replaceData(next);
          wait = Math.max(1000, 3 * (performance.now() - began));
        }
      } catch (error) {
        // the server is not answering (stopped, restarting): ask again later
      }
      setTimeout(poll, wait);
    };
    setTimeout(poll, wait);
  }

  // New data in place of the old: what was selected, folded or zoomed is found again by id.
  function replaceData(next) {
    const idOf = (i) => (i >= 0 && i < SPANS.length ? SPANS[i][ID] : null);
    const list = document.getElementById("trace-list"), top = Math.floor(list.scrollTop / ROW);
    const kept = { trace: traces[state.trace]?.id, span: idOf(state.selected), zoom: idOf(state.zoom),
      collapsed: [...state.collapsed].map(idOf), details: document.getElementById("details").scrollTop,
      top: list.scrollTop > 0 ? traces[state.shownTraces[top]]?.id : undefined,
      offset: list.scrollTop - top * ROW };
    if (next.origin_ms !== DATA.origin_ms) state.window = null;  // its times were from the old origin
    DATA = next;
    index();
    critical = null;
    const find = (id) => (id === null ? -1 : bySpanId.get(id) ?? -1);
    state.trace = traces.findIndex((trace) => trace.id === kept.trace);
    state.selected = find(kept.span);
    state.zoom = find(kept.zoom);
    state.collapsed = new Set(kept.collapsed.map(find).filter((i) => i >= 0));
    fillSelect("kind-filter", DATA.kinds);
    fillSelect("framework-filter", DATA.frameworks);
    lastApplied = null;
    refreshTraces();
    // the trace list shows the same traces where they were (at its top it shows the new ones)
    const moved = state.shownTraces.findIndex((t) => traces[t].id === kept.top);
    if (moved >= 0) list.scrollTop = moved * ROW + kept.offset;
    drawHistory();
    drawRuns();
    drawJobs();
    if (state.selected >= 0 && SPANS[state.selected][TRACE] === state.trace) {
      drawDetails(state.selected);
      document.getElementById("details").scrollTop = kept.details;
    }
    document.body.dataset.version = String(DATA.live.version);
  }
  requestAnimationFrame(() => {
    document.body.dataset.ready = String(Math.round(performance.now()));
  });
})();

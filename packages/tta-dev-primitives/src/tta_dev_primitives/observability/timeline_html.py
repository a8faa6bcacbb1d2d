"""A self-contained HTML timeline of traces: one file a browser opens from disk.

:func:`render_timeline` draws each trace as a Gantt chart: one row per span,
indented by depth, with a bar placed by its start and length. Everything the page
needs is inline (CSS, script, data): it fetches nothing, and its Content Security
Policy forbids it to (``default-src 'none'``; the one script is allowed by its hash).

Span names, attributes and ids come from a file anyone could have written, so every
piece of text is HTML-escaped, the embedded JSON escapes ``<``, ``>`` and ``&``, and
the script only ever sets ``textContent``. The rows and bars are plain HTML, readable
without the script; the script adds the details panel (click or Enter on a row, or
``#span=<trace id>:<span id>`` in the address), collapsing and keyboard moves.

A chain of single-child wrappers (cache, fallback, retry, timeout, ...) is one row,
the step it wraps, listing them (:mod:`.trace_fold`); its ``+N`` button shows the
wrappers' own rows, which the page holds hidden.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from tta_dev_primitives.observability.trace_fold import Row, folded_rows
from tta_dev_primitives.observability.trace_view import (
    SpanNode,
    TraceTree,
    format_cost,
    format_duration,
)

__all__ = ["render_timeline", "write_timeline"]

_CSS = """
:root{--fg:#1d2330;--muted:#5d6678;--bg:#fff;--panel:#f5f7fa;--line:#dde2ea;
--ok:#2f7fd8;--err:#d63c3c;--cancel:#d89a1e;--llm:#7b4fd6;--sel:#fff4c2}
@media (prefers-color-scheme:dark){:root{--fg:#e4e8ef;--muted:#9aa3b5;--bg:#15181e;
--panel:#1e232b;--line:#313845;--sel:#4a4120}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);
background:var(--bg)}
header{padding:12px 20px;border-bottom:1px solid var(--line)}
h1{font-size:18px;margin:0}h2{font-size:15px;margin:0 0 4px}
.meta,.summary{color:var(--muted);margin:2px 0}
main{display:grid;grid-template-columns:minmax(0,1fr) 360px;gap:16px;padding:16px 20px}
@media (max-width:900px){main{grid-template-columns:1fr}}
.trace{margin-bottom:28px}
code{font:12px ui-monospace,Menlo,Consolas,monospace}
.badge{display:inline-block;padding:0 6px;border-radius:8px;font-size:12px;color:#fff}
.b-success{background:var(--ok)}.b-error{background:var(--err)}
.b-cancelled,.b-other{background:var(--cancel)}
.timeline{border:1px solid var(--line);border-radius:6px;overflow:hidden}
.row,.axis{display:grid;grid-template-columns:minmax(180px,34%) 72px minmax(0,1fr);
align-items:center;min-height:24px;border-top:1px solid var(--line)}
.axis{border-top:0;background:var(--panel);color:var(--muted);font-size:11px}
.row{cursor:pointer}.row:hover{background:var(--panel)}.row[hidden]{display:none}
.row.selected{background:var(--sel)}.row:focus{outline:2px solid var(--ok);outline-offset:-2px}
.label{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;padding-right:6px}
.toggle{border:0;background:none;color:var(--muted);width:18px;padding:0;cursor:pointer}
.leaf{display:inline-block;width:18px}
.unfold{border:1px solid var(--line);border-radius:8px;background:none;color:var(--muted);
font-size:11px;margin-left:6px;padding:0 5px;cursor:pointer}
.via{color:var(--muted);font-size:12px;margin-left:4px}.row.fold .name{font-style:italic}
.type,.model{color:var(--muted);font-size:12px;margin-left:4px}
.orphan{color:var(--cancel);font-size:12px;margin-left:4px}
.dur{text-align:right;padding-right:8px;font-variant-numeric:tabular-nums;color:var(--muted)}
.track,.ticks{position:relative;height:24px;margin-right:10px}
.ticks span{position:absolute;top:5px;white-space:nowrap}
.ticks span:last-child{transform:translateX(-100%)}
.bar{position:absolute;top:6px;height:12px;border-radius:3px;min-width:2px;background:var(--ok)}
.bar.o-error{background:var(--err)}.bar.o-cancelled,.bar.o-other{background:var(--cancel)}
.bar.llm{background-image:repeating-linear-gradient(45deg,transparent 0 4px,
rgba(255,255,255,.35) 4px 8px);box-shadow:inset 0 0 0 1px var(--llm)}
aside{position:sticky;top:12px;align-self:start;background:var(--panel);
border:1px solid var(--line);border-radius:6px;padding:12px;max-height:92vh;overflow:auto}
aside h3{margin:0 0 8px;font-size:15px;word-break:break-all}
aside h4{margin:12px 0 4px;font-size:13px}
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:2px 10px;margin:0}
dt{color:var(--muted)}dd{margin:0;word-break:break-all;white-space:pre-wrap}
.hint{color:var(--muted)}
"""

_SCRIPT = """(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("tta-span-data").textContent);
  var panel = document.getElementById("details");
  var rows = Array.prototype.slice.call(document.querySelectorAll(".row"));
  var selected = null;
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function shown(value) {
    return typeof value === "string" ? value : JSON.stringify(value);
  }
  function pairs(title, entries) {
    var box = el("div");
    box.appendChild(el("h4", null, title));
    var list = el("dl");
    entries.forEach(function (entry) {
      if (entry[1] === null || entry[1] === undefined || entry[1] === "") { return; }
      list.appendChild(el("dt", null, entry[0]));
      list.appendChild(el("dd", null, shown(entry[1])));
    });
    box.appendChild(list);
    return box;
  }
  function show(key) {
    var span = data.spans[key];
    if (!span) { return false; }
    if (selected) { selected.classList.remove("selected"); }
    selected = document.querySelector('.row[data-key="' + CSS.escape(key) + '"]');
    if (selected) { selected.classList.add("selected"); }
    panel.textContent = "";
    panel.appendChild(el("h3", null, span.name));
    panel.appendChild(pairs("Span", [
      ["primitive", span.type], ["outcome", span.outcome], ["status", span.status],
      ["error", span.description], ["start", span.offset], ["duration", span.duration],
      ["model", span.model], ["tokens", span.tokens], ["cost", span.cost],
      ["kind", span.kind], ["trace id", span.trace_id], ["span id", span.span_id],
      ["parent id", span.parent_span_id]
    ]));
    var attributes = Object.keys(span.attributes).sort().map(function (name) {
      return [name, span.attributes[name]];
    });
    if (attributes.length) { panel.appendChild(pairs("Attributes", attributes)); }
    span.events.forEach(function (event) {
      var entries = [["at", event.offset]];
      Object.keys(event.attributes).sort().forEach(function (name) {
        entries.push([name, event.attributes[name]]);
      });
      panel.appendChild(pairs("Event: " + event.name, entries));
    });
    return true;
  }
  function depth(row) { return Number(row.getAttribute("data-depth")); }
  function foldedAway(row) {
    var chain = row.getAttribute("data-fold");
    if (!chain) { return false; }
    var owner = document.querySelector('.row[data-key="' + CSS.escape(chain) + '"]');
    return !owner || owner.getAttribute("data-unfolded") !== "true";
  }
  function unfold(row) {
    var open = row.getAttribute("data-unfolded") !== "true";
    row.setAttribute("data-unfolded", open ? "true" : "false");
    row.querySelector(".unfold").setAttribute("aria-pressed", open ? "true" : "false");
    var key = row.getAttribute("data-key");
    rows.forEach(function (other) {
      if (other.getAttribute("data-fold") === key) { other.hidden = !open; }
    });
  }
  function toggle(row) {
    var collapse = row.getAttribute("aria-expanded") !== "false";
    row.setAttribute("aria-expanded", collapse ? "false" : "true");
    row.querySelector(".toggle").textContent = collapse ? "\\u25b8" : "\\u25be";
    var index = rows.indexOf(row), level = depth(row), hiddenBelow = Infinity;
    for (var i = index + 1; i < rows.length && depth(rows[i]) > level; i++) {
      var next = rows[i];
      if (depth(next) <= hiddenBelow) { hiddenBelow = Infinity; }
      next.hidden = collapse || depth(next) > hiddenBelow || foldedAway(next);
      if (!collapse && next.getAttribute("aria-expanded") === "false") {
        hiddenBelow = Math.min(hiddenBelow, depth(next));
      }
    }
  }
  function move(row, step) {
    var i = rows.indexOf(row) + step;
    while (i >= 0 && i < rows.length && rows[i].hidden) { i += step; }
    if (i >= 0 && i < rows.length) { rows[i].focus(); }
  }
  rows.forEach(function (row) {
    row.addEventListener("click", function (event) {
      if (event.target.classList.contains("toggle")) { toggle(row); return; }
      if (event.target.classList.contains("unfold")) { unfold(row); return; }
      show(row.getAttribute("data-key"));
    });
    row.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault(); show(row.getAttribute("data-key"));
      } else if (event.key === "ArrowDown") { event.preventDefault(); move(row, 1); }
      else if (event.key === "ArrowUp") { event.preventDefault(); move(row, -1); }
      else if ((event.key === "ArrowLeft" || event.key === "ArrowRight") &&
               row.querySelector(".toggle") &&
               (row.getAttribute("aria-expanded") === "false") === (event.key === "ArrowRight")) {
        toggle(row);
      }
    });
  });
  var match = /^#span=(.+)$/.exec(window.location.hash);
  if (match) { show(decodeURIComponent(match[1])); }
  document.body.setAttribute("data-ready", String(rows.length));
})();
"""

_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)
_DOT = " \u00b7 "


def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
    return f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'"


def _json_for_script(value: object) -> str:
    # Inside <script>, "</script>" or "<!--" in a string would end or bend the block;
    # \\u escapes keep the JSON identical once parsed.
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _outcome_class(outcome: str) -> str:
    return outcome if outcome in ("success", "error", "cancelled") else "other"


def _utc(nanoseconds: int) -> str:
    moment = datetime.fromtimestamp(nanoseconds / 1e9, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _tokens(input_tokens: int | None, output_tokens: int | None) -> str | None:
    if input_tokens is None and output_tokens is None:
        return None
    return f"{input_tokens or 0} in / {output_tokens or 0} out"


def _span_data(trace: TraceTree, node: SpanNode) -> dict[str, Any]:
    span = node.span
    return {
        "name": span.name,
        "type": span.primitive_type,
        "kind": span.kind,
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "offset": "+" + format_duration(span.start_ns - trace.start_ns),
        "duration": format_duration(span.duration_ns),
        "outcome": span.outcome,
        "status": span.status_code,
        "description": span.status_description,
        "model": span.model,
        "tokens": _tokens(span.input_tokens, span.output_tokens),
        "cost": None
        if span.cost_usd is None
        else format_cost(span.cost_usd, estimated=span.cost_estimated),
        "attributes": dict(span.attributes),
        "events": [
            {
                "name": str(event.get("name", "")),
                "offset": "+" + format_duration(_event_offset(trace, event)),
                "attributes": event.get("attributes")
                if isinstance(event.get("attributes"), dict)
                else {},
            }
            for event in span.events
        ],
    }


def _event_offset(trace: TraceTree, event: Any) -> int:
    at = event.get("time_unix_nano")
    return max(0, at - trace.start_ns) if isinstance(at, int) else 0


def _row(
    trace: TraceTree,
    depth: int,
    node: SpanNode,
    key: str,
    *,
    chain: Row | None = None,
    fold_of: str | None = None,
) -> str:
    """One span's row; ``chain``: the row folds wrappers; ``fold_of``: a folded wrapper."""
    span = node.span
    total = trace.duration_ns or 1
    start_ns, duration_ns = (
        (chain.start_ns, chain.duration_ns) if chain else (span.start_ns, span.duration_ns)
    )
    title = chain.title if chain else span.name
    left = 100 * (start_ns - trace.start_ns) / total
    width = 100 * duration_ns / total
    outcome = _outcome_class(span.outcome)
    llm = " llm" if span.input_tokens is not None or span.cost_usd is not None else ""
    toggle = (
        '<button class="toggle" tabindex="-1" aria-label="collapse">\u25be</button>'
        if node.children and fold_of is None
        else '<span class="leaf"></span>'
    )
    extras = ""
    if title == span.name and span.primitive_type and span.primitive_type != span.name:
        extras += f'<span class="type">{escape(span.primitive_type)}</span>'
    if span.model:
        extras += f'<span class="model">\u00b7 {escape(span.model)}</span>'
    if node.orphan:
        extras += '<span class="orphan">\u26a0 parent missing</span>'
    attributes, unfold = "", ""
    if chain is not None and chain.wrappers:
        via = " \u203a ".join(chain.folded_names)
        # Beside the name: the rest of the label is cut at the column's edge.
        unfold = (
            f'<button class="unfold" tabindex="-1" aria-pressed="false" '
            f'aria-label="show the {len(chain.wrappers)} folded spans">'
            f"+{len(chain.wrappers)}</button>"
        )
        extras += f'<span class="via">via {escape(via)}</span>'
        attributes = ' data-unfolded="false"'
    classes = "row"
    if fold_of is not None:
        classes += " fold"
        attributes = f' data-fold="{escape(fold_of)}" hidden'
    tip = f"{title} \u2014 {format_duration(duration_ns)} \u2014 {span.outcome}"
    expanded = ' aria-expanded="true"' if node.children and fold_of is None else ""
    return (
        f'<div class="{classes}" role="treeitem" tabindex="0" aria-level="{depth + 1}"'
        f'{expanded} data-depth="{depth}" data-key="{escape(key)}"{attributes} '
        f'title="{escape(tip)}">'
        f'<div class="label" style="padding-left:{6 + 14 * depth}px">{toggle}'
        f'<span class="name">{escape(title)}</span>{unfold}{extras}</div>'
        f'<div class="dur">{escape(format_duration(duration_ns))}</div>'
        f'<div class="track"><div class="bar o-{outcome}{llm}" '
        f'style="left:{left:.3f}%;width:{width:.3f}%"></div></div></div>'
    )


def _trace_section(index: int, trace: TraceTree, spans: dict[str, Any], *, fold: bool) -> str:
    facts = [
        _utc(trace.start_ns),
        format_duration(trace.duration_ns),
        f"{len(trace.spans)} spans",
    ]
    if trace.error_count:
        facts.append(f"{trace.error_count} failed")
    if trace.input_tokens or trace.output_tokens:
        facts.append(f"{trace.input_tokens + trace.output_tokens} tokens")
    if any(span.cost_usd is not None for span in trace.spans):
        facts.append(format_cost(trace.cost_usd, estimated=trace.cost_estimated))
    if trace.models:
        facts.append("models: " + ", ".join(trace.models))
    if trace.partial:
        facts.append("partial: some parents are missing")
    ticks = "".join(
        f'<span style="left:{100 * f:.0f}%">{escape(format_duration(int(trace.duration_ns * f)))}'
        "</span>"
        for f in _TICKS
    )
    rows = []
    for row in folded_rows(trace, fold=fold):
        key = f"{trace.trace_id}:{row.node.span.span_id}"
        for wrapper in row.wrappers:  # hidden until the chain's +N button shows them
            wrapper_key = f"{trace.trace_id}:{wrapper.span.span_id}"
            spans[wrapper_key] = _span_data(trace, wrapper)
            rows.append(_row(trace, row.depth, wrapper, wrapper_key, fold_of=key))
        spans[key] = _span_data(trace, row.node)
        rows.append(_row(trace, row.depth, row.node, key, chain=row))
    outcome = _outcome_class(trace.outcome)
    return (
        f'<section class="trace" id="trace-{index}">'
        f'<h2><span class="badge b-{outcome}">{escape(trace.outcome)}</span> '
        f"{escape(trace.name)} <code>{escape(trace.trace_id)}</code></h2>"
        f'<p class="summary">{escape(_DOT.join(facts))}</p>'
        f'<div class="timeline" role="tree" aria-label="{escape(trace.name)}">'
        f'<div class="axis"><span></span><span></span><div class="ticks">{ticks}</div></div>'
        + "\n".join(rows)
        + "</div></section>"
    )


def render_timeline(
    traces: Sequence[TraceTree],
    *,
    title: str = "TTA.dev traces",
    generated_at: datetime | None = None,
    fold: bool = True,
) -> str:
    """The HTML page for ``traces`` (newest first, as :func:`load_traces` gives them).

    ``fold``: chains of single-child wrappers are one row, expandable (``False``: every
    span is a visible row of its own).
    """
    moment = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    spans: dict[str, Any] = {}
    sections = [_trace_section(i, trace, spans, fold=fold) for i, trace in enumerate(traces)]
    if not sections:
        sections = ['<p class="hint">No traces to show.</p>']
    count = f"{len(traces)} trace{'s' if len(traces) != 1 else ''}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_csp()}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style></head>\n"
        f"<body><header><h1>{escape(title)}</h1>"
        f'<p class="meta">{escape(count)} \u00b7 generated {escape(moment)} \u00b7 '
        'click a span for its details</p></header>\n<main><div id="traces">\n'
        + "\n".join(sections)
        + '\n</div><aside id="details" aria-live="polite">'
        '<p class="hint">Click a span (or press Enter on it) to see its attributes.</p>'
        "</aside></main>\n"
        f'<script type="application/json" id="tta-span-data">'
        f"{_json_for_script({'spans': spans})}</script>\n"
        f"<script>{_SCRIPT}</script>\n</body></html>\n"
    )


def write_timeline(
    traces: Sequence[TraceTree],
    path: str | os.PathLike[str],
    *,
    title: str = "TTA.dev traces",
    fold: bool = True,
) -> Path:
    """Write :func:`render_timeline` of ``traces`` to ``path`` (UTF-8); returns the path.

    The file is written next to its final name and moved into place, so a browser
    never sees half a page.
    """
    target = Path(path)
    page = render_timeline(traces, title=title, fold=fold)
    partial = target.with_name(f".{target.name}.tmp")
    partial.write_text(page, encoding="utf-8")
    partial.replace(target)
    return target

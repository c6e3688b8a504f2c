// agitlog HTML replay. Reads the session from the inert JSON block and builds every node with
// createElement + textContent: recorded text is never parsed as HTML, so it cannot run as script.
(function () {
  "use strict";
  var doc = JSON.parse(document.getElementById("agitlog-data").textContent);
  var events = doc.events, steps = doc.steps, spans = doc.spans;
  var current = -1, matches = [], matchAt = -1, haystacks = null;
  var rows = [];

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function add(parent) {
    for (var i = 1; i < arguments.length; i++) { parent.appendChild(arguments[i]); }
    return parent;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  // --- layout ------------------------------------------------------------------------------------
  var header = el("header", "top");
  var title = el("h1", "", "agitlog session " + doc.session.id + (doc.session.name ? " \u2014 " + doc.session.name : ""));
  var facts = el("div", "facts", [
    doc.session.status ? "status " + doc.session.status : "",
    doc.session.agent ? "agent " + doc.session.agent : "",
    doc.session.started_at ? "started " + doc.session.started_at : "",
    events.length + " events", steps.length + " steps",
    Array.isArray(doc.session.command) ? "$ " + doc.session.command.join(" ") : ""
  ].filter(Boolean).join("  \u00b7  "));
  var search = el("input", "search");
  search.id = "search"; search.type = "search"; search.placeholder = "/ search  (n / N: next / previous)";
  search.setAttribute("aria-label", "search events");
  var status = el("span", "status"); status.id = "status";
  var help = el("div", "help hidden",
    "j/k or \u2193/\u2191 next/previous event \u00b7 d t e f next decision, tool call, error, file change " +
    "(shifted: previous) \u00b7 / search, n/N next/previous match \u00b7 Home/End first/last \u00b7 " +
    "v diff pane \u00b7 s state pane \u00b7 a agent tree \u00b7 ? this help");
  help.id = "help";
  add(header, title, facts, add(el("div", "bar"), search, status), help);

  var main = el("main", "panes");
  var tree = el("nav", "tree"); tree.id = "tree";
  var timeline = el("section", "timeline"); timeline.id = "timeline"; timeline.tabIndex = 0;
  var side = el("section", "side");
  var detail = el("div", "detail"); detail.id = "detail";
  var diff = el("div", "diff"); diff.id = "diff";
  var state = el("div", "state"); state.id = "state";
  add(side, detail, diff, state);
  add(main, tree, timeline, side);
  add(document.body, header, main);

  // --- agent / span tree -------------------------------------------------------------------------
  add(tree, el("h2", "", "agents and spans"));
  var rootItem = el("button", "span-item", "session (" + (doc.session.agent || "main") + ")");
  rootItem.type = "button";
  rootItem.addEventListener("click", function () { select(0); });
  tree.appendChild(rootItem);
  spans.forEach(function (span) {
    var item = el("button", "span-item" + (span.failed ? " failed" : ""), span.name + "  [" + span.agent + "]");
    item.type = "button";
    item.dataset.span = span.span;
    item.style.paddingLeft = (0.6 + 1.1 * span.depth) + "em";
    item.addEventListener("click", function () { select(span.start); });
    tree.appendChild(item);
  });

  // --- timeline ----------------------------------------------------------------------------------
  var fragment = document.createDocumentFragment();
  events.forEach(function (ev, index) {
    var row = el("div", "row kind-" + ev.type.split(".")[0] + (ev.failed ? " failed" : ""));
    row.id = "ev-" + ev.seq;
    row.dataset.index = String(index);
    row.dataset.seq = String(ev.seq);
    row.dataset.type = ev.type;
    row.style.paddingLeft = (0.4 + 1.1 * ev.depth) + "em";
    add(row, el("span", "seq", "#" + ev.seq), el("span", "agent", ev.agent), el("span", "type", ev.type),
      el("span", "summary", ev.summary));
    if (ev.produced_step !== null) { row.appendChild(el("span", "step-mark", "\u25c6 step " + ev.produced_step)); }
    if (ev.tokens) { row.appendChild(el("span", "tokens", ev.tokens[0] + "\u2192" + ev.tokens[1] + " tok")); }
    row.addEventListener("click", function () { select(index); });
    rows.push(row);
    fragment.appendChild(row);
  });
  timeline.appendChild(fragment);

  // --- the panes for the selected event ----------------------------------------------------------
  function showDetail(ev) {
    clear(detail);
    var where = "step " + ev.step + (ev.commit ? " (" + String(ev.commit).slice(0, 12) + ")" : "");
    add(detail, el("h2", "", "#" + ev.seq + "  " + ev.type + "  [" + ev.agent + "]"),
      el("div", "meta", [ev.ts, where, ev.span_name ? "span " + ev.span_name : "",
        ev.duration_ms !== null ? Math.round(ev.duration_ms) + " ms" : ""].filter(Boolean).join("  \u00b7  ")));
    ev.sections.forEach(function (section) {
      add(detail, el("h3", "", section[0]), el("pre", "body " + section[2], section[1]));
    });
  }

  function showDiff(ev) {
    clear(diff);
    var number = ev.produced_step;
    if (number === null) {
      diff.appendChild(el("p", "quiet", "no file changes at this event (step " + ev.step + " in effect)"));
      return;
    }
    var step = steps[number];
    diff.appendChild(el("h2", "", "step " + number + ": " + step.files.length + " file(s) changed"));
    step.files.forEach(function (file) {
      var name = file.path + (file.old_path && file.old_path !== file.path ? " (from " + file.old_path + ")" : "");
      var counts = file.binary ? "binary" : "+" + file.added + " -" + file.removed;
      add(diff, el("h3", "file", name + "  " + file.status + "  " + counts));
      if (file.truncated) { diff.appendChild(el("p", "quiet", "too large to show: counts only")); }
      file.hunks.forEach(function (hunk) {
        var block = el("pre", "hunk");
        block.appendChild(el("div", "hunk-head", hunk.header + (hunk.section ? " " + hunk.section : "")));
        hunk.lines.forEach(function (line) {
          var cls = line[0] === "+" ? "add" : line[0] === "-" ? "del" : "ctx";
          block.appendChild(el("div", cls, line[0] + line[1]));
        });
        diff.appendChild(block);
      });
    });
  }

  // The agent's own state as of an event: every `state` event up to it merged, as
  // agitlog.query.state.merged_state does (objects key by key, recursively; anything else replaces).
  function merge(base, update) {
    var result = {};
    Object.keys(base).forEach(function (key) { result[key] = base[key]; });
    Object.keys(update).forEach(function (key) {
      var value = update[key], old = result[key];
      result[key] = isObject(value) && isObject(old) ? merge(old, value) : value;
    });
    return result;
  }
  function isObject(value) { return value !== null && typeof value === "object" && !Array.isArray(value); }

  function stateAt(index) {
    var merged = {}, open = [];
    for (var i = 0; i <= index; i++) {
      var ev = events[i], data = ev.data || {};
      if (ev.type === "state") {
        var value = Object.prototype.hasOwnProperty.call(data, "state") ? data.state : without(data, "state");
        merged = merge(merged, isObject(value) ? value : { value: value });
      } else if (ev.type === "span.start") {
        open.push([ev.span, ev.summary]);
      } else if (ev.type === "span.end") {
        open = open.filter(function (item) { return item[0] !== ev.span; });
      }
    }
    return { state: merged, open: open.map(function (item) { return item[1]; }) };
  }
  function without(object, name) {
    var copy = {};
    Object.keys(object).forEach(function (key) { if (key !== name) { copy[key] = object[key]; } });
    return copy;
  }

  function showState(index) {
    clear(state);
    var ev = events[index], folded = stateAt(index);
    state.appendChild(el("h2", "", "state at event #" + ev.seq + " (step " + ev.step + ")"));
    state.appendChild(el("pre", "body json", JSON.stringify(folded.state, null, 2)));
    if (folded.open.length) { state.appendChild(el("div", "meta", "open spans: " + folded.open.join(" \u203a "))); }
  }

  function select(index) {
    if (index === null || index < 0 || index >= events.length) { return; }
    if (current >= 0) { rows[current].classList.remove("current"); }
    current = index;
    var row = rows[index];
    row.classList.add("current");
    row.scrollIntoView({ block: "nearest" });
    var ev = events[index];
    showDetail(ev); showDiff(ev); showState(index);
    document.body.dataset.current = String(ev.seq);
    if (history.replaceState) {
      try { history.replaceState(null, "", "#ev-" + ev.seq); } catch (ignored) { /* file: URLs in some browsers */ }
    }
  }

  // --- navigation --------------------------------------------------------------------------------
  var TESTS = {
    d: function (ev) { return ev.type === "decision"; },
    t: function (ev) { return ev.type === "tool.call"; },
    e: function (ev) { return ev.failed; },
    f: function (ev) { return ev.produced_step !== null; }
  };

  function jump(test, forward) {
    for (var i = current + (forward ? 1 : -1); i >= 0 && i < events.length; i += forward ? 1 : -1) {
      if (test(events[i])) { return i; }
    }
    status.textContent = "no " + (forward ? "next" : "previous") + " match";
    return null;
  }

  function haystack(index) {
    if (!haystacks) {
      haystacks = events.map(function (ev) {
        return [ev.type, ev.agent, ev.summary].concat(ev.sections.map(function (s) { return s[1]; }))
          .join("\n").toLowerCase();
      });
    }
    return haystacks[index];
  }

  function runSearch(query) {
    rows.forEach(function (row) { row.classList.remove("match"); });
    matches = [];
    var needle = query.toLowerCase();
    if (needle) {
      for (var i = 0; i < events.length; i++) {
        if (haystack(i).indexOf(needle) >= 0) { matches.push(i); rows[i].classList.add("match"); }
      }
    }
    matchAt = -1;
    nextMatch(true);
  }

  function nextMatch(forward) {
    if (!matches.length) { status.textContent = search.value ? "no match" : ""; return; }
    var position = -1;
    if (forward) {
      position = matches.findIndex(function (i) { return i > current; });
      if (position < 0) { position = 0; }
    } else {
      for (var p = matches.length - 1; p >= 0; p--) { if (matches[p] < current) { position = p; break; } }
      if (position < 0) { position = matches.length - 1; }
    }
    matchAt = position;
    select(matches[position]);
    status.textContent = "match " + (position + 1) + "/" + matches.length;
  }

  function toggle(node) { node.classList.toggle("hidden"); }

  search.addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); runSearch(search.value); search.blur(); timeline.focus(); }
    else if (event.key === "Escape") { event.preventDefault(); search.blur(); timeline.focus(); }
  });

  document.addEventListener("keydown", function (event) {
    if (event.target === search || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var key = event.key, lower = key.toLowerCase(), target = null;
    if (key === "j" || key === "ArrowDown") { target = Math.min(current + 1, events.length - 1); }
    else if (key === "k" || key === "ArrowUp") { target = Math.max(current - 1, 0); }
    else if (key === "Home") { target = 0; }
    else if (key === "End") { target = events.length - 1; }
    else if (TESTS[lower] && key.length === 1) { target = jump(TESTS[lower], key === lower); }
    else if (key === "/") { event.preventDefault(); search.focus(); search.select(); return; }
    else if (key === "n") { nextMatch(true); }
    else if (key === "N") { nextMatch(false); }
    else if (key === "v") { toggle(diff); }
    else if (key === "s") { toggle(state); }
    else if (key === "a") { toggle(tree); }
    else if (key === "?") { toggle(help); }
    else { return; }
    event.preventDefault();
    if (target !== null) { select(target); }
  });

  var opened = /^#ev-(\d+)$/.exec(location.hash || "");
  var start = opened ? rows.findIndex(function (row) { return row.dataset.seq === opened[1]; }) : 0;
  select(start >= 0 ? start : 0);
  document.body.dataset.ready = "1";
})();

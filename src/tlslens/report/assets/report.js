"use strict";
// tlslens report: draws what the page's JSON blocks hold. Every string in them comes from a
// capture and is attacker-controlled: it only ever becomes text (textContent, createTextNode,
// SVG text nodes), never markup, code, a URL or an attribute that loads anything.
(async function () {
  const SVG = "http://www.w3.org/2000/svg";
  async function unpack(text) {
    const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return JSON.parse(await new Response(stream).text());
  }
  const data = await unpack(JSON.parse(document.getElementById("tlslens-overview").textContent));
  const chunks = JSON.parse(document.getElementById("tlslens-chunks").textContent);
  const sharedBlob = JSON.parse(document.getElementById("tlslens-shared").textContent);
  let shared = null;  // {strings, certs}, unpacked with the first detail
  const PAGE = 100;
  const cache = new Map();
  let view = data.rows.map((row, i) => i);
  let sortCol = 0, sortDir = 1, page = 0;
  // Each capture numbers its connections from 1: in a report of several, a connection is
  // named by its file and its number there ("a.pcapng#3"), and so is its link (the page's
  // address with #connection-FILE-N opens it; opening one puts it there).
  const several = new Set(data.rows.map((row) => row[1])).size > 1;
  const nameOf = (id, file) => (several ? `${file}#${id}` : String(id));
  const linkOf = (id, file) =>
    "#connection-" + (several ? `${encodeURIComponent(file)}-${id}` : id);

  function el(tag, props, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "text") node.textContent = v;
      else if (k === "cls") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const kid of kids) if (kid !== null && kid !== undefined) node.append(kid);
    return node;
  }
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // -- overview ---------------------------------------------------------------------------
  const tbody = document.querySelector("#rows tbody");
  const filter = document.getElementById("filter");
  function applyView() {
    const needle = filter.value.trim().toLowerCase();
    view = [];
    data.rows.forEach((row, i) => {
      if (!needle || row.some((cell) => String(cell).toLowerCase().includes(needle))) view.push(i);
    });
    view.sort((a, b) => {
      const x = data.rows[a][sortCol], y = data.rows[b][sortCol];
      const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return c * sortDir || a - b;
    });
    page = Math.min(page, Math.max(0, Math.ceil(view.length / PAGE) - 1));
    drawRows();
  }
  function drawRows() {
    tbody.replaceChildren();
    for (const i of view.slice(page * PAGE, (page + 1) * PAGE)) {
      const row = data.rows[i];
      const tr = el("tr", { "data-id": row[0] });
      row.forEach((cell, c) => {
        const text = c === 0 ? nameOf(cell, row[1]) : String(cell);
        const td = el("td", { text, title: text });
        const name = data.columns[c];
        if ((name === "chain" && cell === "not trusted") || (name === "problems" && cell > 0) ||
            (name === "forward_secrecy" && cell === "no") ||
            (name === "outcome" && String(cell).startsWith("FAILED"))) td.className = "bad";
        if (name === "chain" && cell === "trusted") td.className = "good";
        tr.append(td);
      });
      tr.addEventListener("click", () => openConnection(i));
      tbody.append(tr);
    }
    document.getElementById("shown").textContent = `${view.length} of ${data.rows.length} shown`;
    const nav = document.getElementById("pages");
    nav.replaceChildren();
    const pages = Math.ceil(view.length / PAGE);
    if (pages > 1) {
      for (let p = 0; p < pages; p++) {
        if (pages > 12 && p > 2 && p < pages - 3 && Math.abs(p - page) > 2) {
          if (nav.lastChild && nav.lastChild.textContent !== "…") nav.append(el("span", { text: "…" }));
          continue;
        }
        const b = el("button", { type: "button", text: String(p + 1) });
        if (p === page) b.setAttribute("aria-current", "page");
        b.addEventListener("click", () => { page = p; drawRows(); });
        nav.append(b);
      }
    }
  }
  document.querySelectorAll("#rows th").forEach((th) => {
    const sort = () => {
      const col = Number(th.dataset.col);
      sortDir = sortCol === col ? -sortDir : 1;
      sortCol = col;
      document.querySelectorAll("#rows th").forEach((h) => h.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      applyView();
    };
    th.addEventListener("click", sort);
    th.addEventListener("keydown", (e) => { if (e.key === "Enter") sort(); });
  });
  filter.addEventListener("input", () => { page = 0; applyView(); });

  // -- detail, unpacked on demand ---------------------------------------------------------
  async function chunk(n) {
    if (!cache.has(n)) cache.set(n, await unpack(chunks[n]));
    return cache.get(n);
  }
  async function detailOf(i) {
    if (shared === null) shared = await unpack(sharedBlob);
    const columns = await chunk(Math.floor(i / data.chunk));
    const j = i % data.chunk;
    const detail = {};
    for (const [name, values] of Object.entries(columns)) detail[name] = values[j];
    const S = shared.strings;
    // Strings were packed as numbers into one table: back to text.
    detail.ladder = detail.ladder.map((a) => [...a.slice(0, 4), S[a[4]], ...a.slice(5)]);
    detail.steps = detail.steps.map(([f, d, t, lines, tone]) => [f, d, S[t], lines.map((l) => S[l]), tone]);
    detail.summary = detail.summary.map(([k, v]) => [S[k], S[v]]);
    return detail;
  }
  async function openConnection(i) {
    const detail = await detailOf(i);
    document.getElementById("overview").hidden = true;
    document.getElementById("charts").hidden = true;
    const section = document.getElementById("detail");
    section.hidden = false;
    section.dataset.id = nameOf(detail.id, detail.file);
    document.getElementById("detail-title").textContent =
      several ? `${detail.file} · ${detail.title}` : detail.title;
    drawSummary(detail);
    drawLadder(detail);
    drawSteps(detail);
    drawChain(detail.chain);
    drawKeys(detail.keys, detail);
    history.replaceState(null, "", linkOf(detail.id, detail.file));
    window.scrollTo(0, 0);
  }
  document.getElementById("back").addEventListener("click", () => {
    document.getElementById("detail").hidden = true;
    document.getElementById("overview").hidden = false;
    document.getElementById("charts").hidden = false;
    history.replaceState(null, "", "#");
  });

  function drawSummary(detail) {
    const table = document.getElementById("summary");
    table.replaceChildren(...detail.summary.map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td", { text: v }))));
    const box = document.getElementById("problems");
    box.replaceChildren();
    if (detail.problems.length) {
      box.append(el("h3", { text: `Problems (${detail.problems.length})` }),
        el("ul", {}, ...detail.problems.map((p) => el("li", { text: p }))));
    }
  }

  // -- the ladder -------------------------------------------------------------------------
  const LEFT = 150, RIGHT = 560, ROW = 24, TOP = 40;
  function drawLadder(detail) {
    const rows = detail.ladder;
    const height = TOP + rows.length * ROW + 16;
    const root = svg("svg", { width: RIGHT + 40, height, id: "ladder-svg", role: "img", "aria-label": "handshake ladder" });
    let flightStart = 0;
    rows.forEach((a, n) => {
      const last = n === rows.length - 1 || rows[n + 1][6] !== a[6];
      if (last) {
        if (a[6] % 2 === 0) {
          root.append(svg("rect", { class: "flight", x: 0, y: TOP + flightStart * ROW - 4, width: RIGHT + 40, height: (n - flightStart + 1) * ROW }));
        }
        flightStart = n + 1;
      }
    });
    root.append(svg("text", { class: "party", x: LEFT, y: 20, "text-anchor": "middle" }, "Client"));
    root.append(svg("text", { class: "party", x: RIGHT, y: 20, "text-anchor": "middle" }, "Server"));
    root.append(svg("line", { class: "lifeline", x1: LEFT, y1: 28, x2: LEFT, y2: height - 8 }));
    root.append(svg("line", { class: "lifeline", x1: RIGHT, y1: 28, x2: RIGHT, y2: height - 8 }));
    rows.forEach((a, n) => {
      const [kind, dir, frame, ms, label, tone, flight, count] = a;
      const y = TOP + n * ROW + 12;
      const inset = kind === "message" ? 24 : 0;
      const from = dir === "c2s" ? LEFT + inset : RIGHT - inset;
      const to = dir === "c2s" ? RIGHT - 6 : LEFT + 6;
      const g = svg("g", { class: `arrow ${kind} t-${tone}`, "data-index": n, "data-count": count, "data-kind": kind, "data-frame": frame });
      g.append(svg("rect", { class: "hit", x: 0, y: y - 14, width: RIGHT + 40, height: ROW }));
      g.append(svg("text", { class: "time", x: 4, y: y + 4 }, `#${frame} +${ms.toFixed(3)} ms`));
      g.append(svg("line", { x1: from, y1: y, x2: to, y2: y }));
      const head = dir === "c2s" ? `${to},${y} ${to - 8},${y - 4} ${to - 8},${y + 4}` : `${to},${y} ${to + 8},${y - 4} ${to + 8},${y + 4}`;
      g.append(svg("polygon", { points: head }));
      g.append(svg("text", { x: (LEFT + RIGHT) / 2, y: y - 4, "text-anchor": "middle" }, count > 1 ? `${label} (×${count})` : label));
      g.addEventListener("click", () => inspect(detail, n, g));
      root.append(g);
    });
    document.getElementById("ladder").replaceChildren(root);
    document.getElementById("inspect").replaceChildren(el("p", { cls: "hint", text: "Click an arrow." }));
  }

  function partHex(packed) {
    const hexed = packed[2];
    return typeof hexed === "string" ? hexed : hexed.map((x) => typeof x === "number" ? shared.certs[x] : x).join("");
  }
  function inspect(detail, n, g) {
    document.querySelectorAll("#ladder .arrow.selected").forEach((x) => x.classList.remove("selected"));
    g.classList.add("selected");
    const a = detail.ladder[n];
    const packed = detail.parts[n];
    const box = document.getElementById("inspect");
    box.replaceChildren(el("h4", { text: a[4] }));
    document.querySelectorAll("#steps li").forEach((li) => li.classList.toggle("on", Number(li.dataset.frame) === a[2]));
    if (!packed) {
      box.append(el("p", { cls: "hint", text: "No bytes kept for this arrow (encrypted, or not a record the capture holds)." }));
      narrate(box, detail, a[2]);
      return;
    }
    const [what, offset, , fieldset] = packed;
    const part = { hex: partHex(packed), fields: shared.fieldsets[fieldset] };
    const where = a[7] > 1 ? `; the first of ${a[7]} records` : "";
    box.append(el("p", { cls: "hint", text: `${shared.strings[what]} at stream offset ${offset} (${a[1]}), ${part.hex.length / 2} bytes${where}` }));
    const hex = el("div", { cls: "hex", id: "hex" });
    const spans = [];
    for (let i = 0; i < part.hex.length; i += 2) {
      const s = el("span", { "data-byte": i / 2, text: part.hex.slice(i, i + 2) });
      spans.push(s);
      hex.append(s, document.createTextNode(" "));
    }
    const owners = new Array(spans.length).fill(null);
    const list = fieldList(part.fields, spans, owners);
    spans.forEach((s, i) => {
      s.addEventListener("mouseenter", () => { const f = owners[i]; if (f) light(f, spans, true); });
      s.addEventListener("mouseleave", () => { const f = owners[i]; if (f) light(f, spans, false); });
    });
    box.append(hex, list);
    narrate(box, detail, a[2]);
  }
  function narrate(box, detail, frame) {
    // What `show` says of this frame, beside its bytes.
    const said = detail.steps.filter(([f]) => f === frame);
    if (said.length) {
      box.append(el("h4", { text: `What tlslens show says of frame ${frame}` }),
        ...said.map(([, , title, lines]) => el("div", { cls: "said" }, el("strong", { text: title }),
          ...lines.map((line) => el("span", { cls: "line", text: line })))));
    }
  }
  function fieldList(fields, spans, owners) {
    const ul = el("ul", { cls: "fields" });
    for (const [nameAt, start, end, value, meaningAt, children] of fields) {
      const meaning = shared.strings[meaningAt];
      const shown = value ? shared.strings[value] : spans.slice(start, end).map((s) => s.textContent).join("");
      const li = el("li", { cls: "field", "data-start": start, "data-end": end },
        el("span", { cls: "fname", text: shared.strings[nameAt] }), document.createTextNode(" "),
        el("span", { cls: "fval", text: shown }),
        meaning ? el("span", { cls: "fmean", text: meaning }) : null);
      for (let i = start; i < end && i < owners.length; i++) owners[i] = li;
      li.addEventListener("mouseenter", (e) => { e.stopPropagation(); light(li, spans, true); });
      li.addEventListener("mouseleave", (e) => { e.stopPropagation(); light(li, spans, false); });
      if (children && children.length) li.append(fieldList(children, spans, owners));
      ul.append(li);
    }
    return ul;
  }
  function light(li, spans, on) {
    li.classList.toggle("on", on);
    const start = Number(li.dataset.start), end = Number(li.dataset.end);
    for (let i = start; i < end && i < spans.length; i++) spans[i].classList.toggle("on", on);
  }

  // -- the narration of `show` ------------------------------------------------------------
  function drawSteps(detail) {
    const ol = document.getElementById("steps");
    ol.replaceChildren(...detail.steps.map(([frame, dir, title, lines, tone]) => {
      const who = dir === "c2s" ? "client → server" : dir === "s2c" ? "server → client" : "";
      return el("li", { "data-frame": frame, cls: tone },
        el("span", { cls: "dir", text: `#${frame} ${who} ` }), el("strong", { text: title }),
        ...lines.map((line) => el("span", { cls: "line", text: line })));
    }));
  }

  // -- the chain of trust -----------------------------------------------------------------
  function card(c, extra) {
    const bad = c.valid_then === false || (c.problems && c.problems.length) || c.error;
    const div = el("div", { cls: bad ? "card red" : "card" }, el("h4", { text: c.subject || "(no subject)" }));
    const rows = [["issuer", c.issuer], ["valid", c.not_before && `${c.not_before} to ${c.not_after}` +
      (c.valid_then === false ? " — NOT valid at the time checked" : c.valid_then ? " — valid at the time checked" : "")],
      ["key", c.key], ["signed with", c.signature_algorithm], ["names", (c.san || []).join(", ")],
      ["SHA-256", c.sha256], ["note", c.error], ["", extra]];
    const table = el("table", { cls: "kv" });
    for (const [k, v] of rows) if (v) table.append(el("tr", {}, el("td", { text: k }), el("td", { text: v })));
    div.append(table);
    for (const p of c.problems || []) div.append(el("p", { cls: "bad", text: "✗ " + p }));
    return div;
  }
  function drawChain(chain) {
    const box = document.getElementById("chain");
    box.replaceChildren();
    if (!chain) { box.append(el("p", { cls: "hint", text: "No certificate was seen (resumed, or TLS 1.3 without its key log)." })); return; }
    box.append(el("p", { cls: chain.verdict === "trusted" ? "good" : "bad", text: `Verdict: ${chain.verdict}` + (chain.checked ? ` (as of ${chain.checked})` : "") }));
    const cards = el("div", { cls: "cards", id: "chain-cards" });
    if (chain.missing) cards.append(el("div", { cls: "card red" }, el("h4", { text: chain.missing }), el("p", { cls: "bad", text: "missing: not sent, not in the trust store" })));
    const path = chain.cards.slice().reverse();  // root first
    path.forEach((c, i) => {
      const depth = chain.cards.length - 1 - i;
      const tag = c.anchor || (c.sent === false ? "found in the trust store or elsewhere in the capture" : depth === 0 ? "the leaf: the server's own certificate" : "sent by the server");
      cards.append(card(c, tag));
      if (depth > 0) {
        const lines = chain.links[depth - 1] || [];
        const bad = lines.some((l) => /\bnot\b|fail|invalid/i.test(l));
        cards.append(el("div", { cls: bad ? "link red" : "link" }, el("strong", { text: "↓ signs the next: " }), ...lines.map((l) => el("div", { text: l }))));
      }
    });
    box.append(cards);
    if (chain.problems.length) box.append(el("ul", {}, ...chain.problems.map((p) => el("li", { cls: "bad", text: "✗ " + p }))));
    if (chain.off_path.length) {
      const off = el("div", { cls: "off" }, el("h4", { text: "Sent but not on the trust path" }));
      for (const c of chain.off_path) off.append(card(c, "sent, not used by the path"));
      box.append(off);
    }
  }

  // -- the key derivation -----------------------------------------------------------------
  function drawKeys(keys, detail) {
    const box = document.getElementById("keys");
    box.replaceChildren();
    if (!keys) { box.append(el("p", { cls: "hint", text: "No secrets were given for this connection: give --keylog (or --rsa-key, --psk) to see its keys." })); return; }
    const flow = el("div", { cls: "derive", id: "derivation" });
    const box1 = (name, value, size) => el("div", { cls: "box" }, el("strong", { text: name + (size ? ` (${size} bytes)` : "") + ": " }), el("code", { text: value }));
    flow.append(el("p", { text: `From ${keys.source || "the given secret"}` + (keys.revealed ? "" : " (values shortened; --reveal-keys shows them whole)") }));
    for (const [name, value] of keys.inputs) {
      // A number: the hello whose random it is (bytes 6 to 38 of that message).
      const hex = typeof value === "number" ? partHex(detail.parts[value]).slice(12, 76) : value;
      flow.append(box1(name, hex));
    }
    flow.append(el("div", { cls: "step-arrow", text: keys.tls13 ? (keys.dtls ? "↓ HKDF: the TLS 1.3 key schedule (RFC 8446 §7.1) with DTLS 1.3's \"dtls13\" labels (RFC 9147 §5.9)" : "↓ HKDF: the TLS 1.3 key schedule (RFC 8446 §7.1)") : "↓ PRF(pre-master secret, \"master secret\", randoms), then the key block" }));
    for (const [name, value, size] of keys.values) flow.append(box1(name, value, size));
    const fin = keys.finished;
    const ok = fin.c2s && fin.s2c;
    flow.append(el("p", { cls: ok ? "proof" : "proof red", text: `Proof: client Finished ${fin.c2s === null ? "not seen" : fin.c2s ? "verified" : "FAILED"}, server Finished ${fin.s2c === null ? "not seen" : fin.s2c ? "verified" : "FAILED"}; records decrypted: ${keys.records.c2s} from the client, ${keys.records.s2c} from the server` + ((keys.failed.c2s || keys.failed.s2c) ? `; failing their integrity check: ${keys.failed.c2s + keys.failed.s2c}` : "") }));
    if (keys.forward_secrecy) flow.append(el("p", { text: "Forward secrecy: " + keys.forward_secrecy }));
    for (const [dir, text] of Object.entries(keys.first || {})) {
      flow.append(el("p", { text: `The first bytes the ${dir === "c2s" ? "client" : "server"} sent, decrypted with these keys:` }),
        el("pre", { cls: "plain", text }));
    }
    box.append(flow);
  }

  applyView();
  async function follow() {
    const i = data.rows.findIndex((row) => linkOf(row[0], row[1]) === location.hash);
    if (i >= 0) await openConnection(i);
  }
  window.addEventListener("hashchange", follow);
  await follow();
  document.body.dataset.ready = "1";
})();

// hsmkms web console: plain JavaScript, no framework, nothing loaded from elsewhere.
// Reads /_hsmkms/console/api/state (in-process views, no AWS wire), listens to the
// timeline's server-sent events and refreshes what it shows when something happens.
"use strict";

const BASE = "/_hsmkms/console";
const $ = (id) => document.getElementById(id);
let state = null;
let doctorStore = null;
let source = null;
let refreshTimer = null;
const READ_ONLY = /^(Describe|List|Get|Lookup)/;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("data-")) node.setAttribute(name, value);
    else node[name] = value;
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
  }
  return node;
}

function badge(value) {
  const text = value || "-";
  return el("span", { class: "badge s-" + text.replace(/[^A-Za-z_]/g, ""), text });
}

function when(epoch) {
  if (epoch === null || epoch === undefined) return "-";
  return new Date(epoch * 1000).toISOString().replace(".000Z", "Z");
}

function showError(message) {
  const bar = $("error-bar");
  bar.textContent = message;
  bar.hidden = !message;
}

async function api(method, path, body) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(BASE + path, init);
  let doc = null;
  try { doc = await response.json(); } catch (_err) { doc = null; }
  if (response.status === 401) {
    showLogin();
    throw new Error((doc && doc.message) || "login needed");
  }
  if (!response.ok) {
    throw new Error((doc && (doc.__type + ": " + doc.message)) || ("HTTP " + response.status));
  }
  return doc;
}

function confirmAction(text) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

// -- login --------------------------------------------------------------------------------

function showLogin() {
  if (source) { source.close(); source = null; }
  setLive(false);
  $("main").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-token").focus();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  const response = await fetch(BASE + "/login", {
    method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: $("login-token").value }),
  });
  $("login-token").value = "";
  if (!response.ok) {
    let doc = null;
    try { doc = await response.json(); } catch (_err) { doc = null; }
    $("login-error").textContent = (doc && doc.message) || ("HTTP " + response.status);
    return;
  }
  $("login").hidden = true;
  start();
});

$("logout").addEventListener("click", async () => {
  await fetch(BASE + "/logout", { method: "POST", credentials: "same-origin",
    headers: { "content-type": "application/json" }, body: "{}" });
  showLogin();
});

// -- rendering ----------------------------------------------------------------------------

function render() {
  $("clock-now").textContent = when(state.now);
  $("clock-offset").textContent = state.offset ? "(+" + state.offset + " s)" : "";
  $("logout").hidden = !state.login;
  renderScopes();
  renderClusters();
  renderStores();
  renderKeys();
  renderFaults();
}

function renderScopes() {
  const box = $("scopes");
  box.replaceChildren();
  if (!state.scopes.length) {
    box.append(el("p", { class: "muted", text: "Nothing yet: no cluster, key store or key." }));
  }
  for (const scope of state.scopes) {
    box.append(el("div", { class: "scope" },
      el("strong", { text: scope.account }), " ", el("span", { text: scope.region }),
      el("span", { class: "muted", text: ` ${scope.clusters.length} cluster(s), ` +
        `${scope.stores.length} key store(s), ${scope.keys.length} key(s)` })));
  }
}

function renderClusters() {
  const box = $("clusters");
  box.replaceChildren();
  for (const scope of state.scopes) {
    for (const c of scope.clusters) {
      const zones = el("div", { class: "zones" });
      for (const z of c.zones) {
        const hsms = el("ul");
        for (const h of z.hsms) {
          hsms.append(el("li", { "data-hsm": h.hsm_id }, el("code", { text: h.hsm_id }), " ",
            badge(h.state), h.eni_ip ? el("span", { class: "muted", text: " " + h.eni_ip }) : null));
        }
        if (!z.hsms.length) hsms.append(el("li", { class: "muted", text: "no HSM" }));
        zones.append(el("div", { class: "zone" },
          el("div", { class: "zone-name" }, el("strong", { text: z.zone }),
            el("span", { class: "muted", text: " " + z.subnet_id })), hsms));
      }
      box.append(el("div", { class: "cluster", "data-cluster": c.cluster_id },
        el("div", {}, el("code", { text: c.cluster_id }), " ", badge(c.state),
          el("span", { class: "muted", text: ` ${c.hsm_type} · ${c.vpc_id} · ` +
            `${scope.account} ${scope.region}` })),
        zones));
    }
  }
  if (!box.children.length) box.append(el("p", { class: "muted", text: "No cluster." }));
}

function renderStores() {
  const body = $("stores").tBodies[0];
  body.replaceChildren();
  for (const scope of state.scopes) {
    for (const s of scope.stores) {
      const check = s.check;
      const fix = check.fix.length
        ? el("details", {}, el("summary", { text: check.guide || "fix" }),
          el("pre", { class: "fix", text: check.fix.join("\n") }))
        : null;
      const button = el("button", { text: "doctor", "data-doctor": s.store_id });
      button.addEventListener("click", () => openDoctor(s.store_id));
      body.append(el("tr", { "data-store": s.store_id },
        el("td", {}, el("code", { text: s.store_id })), el("td", { text: s.name }),
        el("td", {}, el("code", { text: s.cluster_id })),
        el("td", { class: "state" }, badge(s.state)),
        el("td", { class: "error-code" }, s.error_code ? badge(s.error_code) : "-"),
        el("td", { class: "check" }, el("span", { class: "mark m-" + check.status,
          text: check.status === "ok" ? "✓" : "✗" }), " " + check.summary, fix),
        el("td", {}, button)));
    }
  }
  if (!body.children.length) {
    body.append(el("tr", {}, el("td", { colSpan: 7, class: "muted", text: "No key store." })));
  }
}

function renderKeys() {
  const body = $("keys").tBodies[0];
  body.replaceChildren();
  for (const scope of state.scopes) {
    for (const k of scope.keys) {
      body.append(el("tr", { "data-key": k.key_id },
        el("td", { title: k.arn }, el("code", { text: k.key_id }),
          k.description ? el("div", { class: "muted", text: k.description }) : null),
        el("td", { class: "state" }, badge(k.state)), el("td", { text: k.spec }),
        el("td", { text: k.usage }), el("td", { text: k.origin }),
        el("td", {}, k.store_id ? el("code", { text: k.store_id }) : "-"),
        el("td", { class: "muted", text: scope.account + " " + scope.region })));
    }
  }
  if (!body.children.length) {
    body.append(el("tr", {}, el("td", { colSpan: 7, class: "muted", text: "No key." })));
  }
}

function renderFaults() {
  const clusters = $("fault-cluster");
  const chosen = clusters.value;
  clusters.replaceChildren();
  for (const scope of state.scopes) {
    for (const c of scope.clusters) {
      clusters.append(el("option", { value: c.cluster_id, text: c.cluster_id }));
    }
  }
  if (chosen) clusters.value = chosen;
  renderFaultHsms();
  const body = $("faults").tBodies[0];
  body.replaceChildren();
  for (const f of state.faults) {
    const clear = el("button", { text: "Clear…", class: "danger", "data-clear": f.fault_id });
    clear.addEventListener("click", () => clearFault(f));
    body.append(el("tr", { "data-fault": f.fault_id }, el("td", {}, el("code", { text: f.fault_id })),
      el("td", { text: f.fault }), el("td", {}, el("code", { text: f.cluster_id })),
      el("td", { text: f.hsm_id || "-" }), el("td", {}, clear)));
  }
  if (!body.children.length) {
    body.append(el("tr", {}, el("td", { colSpan: 5, class: "muted", text: "No fault." })));
  }
}

function renderFaultHsms() {
  const needsHsm = $("fault-kind").value === "hsm-unreachable";
  const select = $("fault-hsm");
  select.hidden = !needsHsm;
  const chosen = select.value;
  select.replaceChildren();
  for (const scope of (state ? state.scopes : [])) {
    for (const c of scope.clusters) {
      if (c.cluster_id !== $("fault-cluster").value) continue;
      for (const z of c.zones) {
        for (const h of z.hsms) select.append(el("option", { value: h.hsm_id, text: h.hsm_id }));
      }
    }
  }
  if (chosen) select.value = chosen;
}

// -- the doctor ---------------------------------------------------------------------------

async function openDoctor(storeId) {
  doctorStore = storeId;
  $("doctor").hidden = false;
  $("doctor-store").textContent = storeId;
  await renderDoctor();
}

async function renderDoctor() {
  if (!doctorStore) return;
  let report;
  try {
    report = await api("GET", "/api/doctor?store=" + encodeURIComponent(doctorStore));
  } catch (err) {
    showError(err.message);
    return;
  }
  const list = $("doctor-checks");
  list.replaceChildren();
  for (const c of report.checks) {
    const item = el("li", { class: "check-" + c.status, "data-check": c.check },
      el("span", { class: "mark m-" + c.status,
        text: { ok: "✓", fail: "✗", warn: "!", skip: "-" }[c.status] || c.status }),
      " ", el("strong", { text: c.check }), " ", el("span", { text: c.summary }));
    if (c.evidence.length) item.append(el("ul", { class: "evidence" },
      ...c.evidence.map((e) => el("li", { text: e }))));
    if (c.cause && c.status !== "ok") {
      item.append(el("div", { class: "cause", text: "cause: " + c.cause +
        (c.guide ? " (guide: " + c.guide + ")" : "") }));
    }
    if (c.fix.length && c.status !== "ok") item.append(el("pre", { class: "fix", text: c.fix.join("\n") }));
    list.append(item);
  }
}

$("doctor-close").addEventListener("click", () => {
  doctorStore = null;
  $("doctor").hidden = true;
});

// -- writes (each confirmed first) --------------------------------------------------------

$("clock-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const seconds = Number($("clock-amount").value) * Number($("clock-unit").value);
  if (!Number.isFinite(seconds) || seconds < 0) return;
  const unit = $("clock-unit").selectedOptions[0].text;
  if (!await confirmAction(`Advance the clock by ${$("clock-amount").value} ${unit} ` +
      `(${seconds} s)? Everything scheduled in between runs now.`)) return;
  try {
    await api("POST", "/api/clock", { advance_seconds: seconds });
    showError("");
  } catch (err) {
    showError(err.message);
  }
  refresh();
});

$("fault-kind").addEventListener("change", renderFaultHsms);
$("fault-cluster").addEventListener("change", renderFaultHsms);

$("fault-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { fault: $("fault-kind").value, cluster_id: $("fault-cluster").value };
  if (body.fault === "hsm-unreachable") body.hsm_id = $("fault-hsm").value;
  if (!body.cluster_id) return;
  if (!await confirmAction(`Add the fault ${body.fault} to ${body.cluster_id}` +
      (body.hsm_id ? ` (${body.hsm_id})` : "") + "?")) return;
  try {
    await api("POST", "/api/faults", body);
    showError("");
  } catch (err) {
    showError(err.message);
  }
  refresh();
});

async function clearFault(f) {
  if (!await confirmAction(`Clear the fault ${f.fault} (${f.fault_id}) of ${f.cluster_id}?`)) return;
  try {
    await api("DELETE", "/api/faults/" + encodeURIComponent(f.fault_id));
    showError("");
  } catch (err) {
    showError(err.message);
  }
  refresh();
}

// -- the timeline -------------------------------------------------------------------------

function addEvent(e) {
  const list = $("timeline");
  const hidden = e.kind === "call" && READ_ONLY.test(e.name) && !$("timeline-reads").checked;
  const detail = e.kind === "state"
    ? `${e.from || "-"} → ${e.to}`
    : Object.entries(e.detail || {}).map(([k, v]) => `${k}=${v}`).join(" ");
  const item = el("li", { class: "ev ev-" + e.kind + (e.error ? " ev-error" : ""),
    "data-seq": String(e.seq), "data-name": e.name, "data-kind": e.kind },
    el("time", { text: when(e.time) }), " ",
    el("span", { class: "ev-source", text: e.source }), " ",
    el("strong", { text: e.name }), " ",
    e.error ? el("span", { class: "badge s-FAILED", text: e.error }) : null, " ",
    el("span", { class: "ev-detail", text: detail }),
    e.account ? el("span", { class: "muted", text: ` ${e.account} ${e.region}` }) : null);
  item.hidden = hidden;
  list.prepend(item);
  while (list.children.length > 300) list.lastChild.remove();
}

$("timeline-reads").addEventListener("change", () => {
  for (const item of $("timeline").children) {
    item.hidden = item.dataset.kind === "call" && READ_ONLY.test(item.dataset.name)
      && !$("timeline-reads").checked;
  }
});

function setLive(on) {
  const live = $("live");
  live.textContent = on ? "live" : "offline";
  live.className = "live " + (on ? "on" : "off");
}

function listen(after) {
  if (source) source.close();
  source = new EventSource(BASE + "/events?after=" + after);
  let seen = after;
  source.onopen = () => setLive(true);
  source.onerror = () => setLive(false);
  source.onmessage = (message) => {
    const e = JSON.parse(message.data);
    if (e.seq <= seen) return;
    seen = e.seq;
    addEvent(e);
    scheduleRefresh();
  };
}

function scheduleRefresh() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 150);
}

async function refresh() {
  try {
    state = await api("GET", "/api/state");
  } catch (err) {
    if (!$("login").hidden) return;
    showError(err.message);
    return;
  }
  render();
  if (doctorStore) renderDoctor();
}

async function start() {
  // Whether this browser may look (a login needed, or refused): asked first, so that a
  // page that needs the login shows the form without a failed request.
  const session = await (await fetch(BASE + "/session", { credentials: "same-origin" })).json();
  if (!session.allowed) {
    if (session.login) showLogin();
    else showError(session.message);
    return;
  }
  try {
    state = await api("GET", "/api/state");
  } catch (err) {
    if ($("login").hidden) showError(err.message);
    return;
  }
  $("main").hidden = false;
  showError("");
  $("timeline").replaceChildren();
  let last = 0;
  for (const e of state.timeline) { addEvent(e); last = e.seq; }
  render();
  listen(last);
}

start();

// The Concord dashboard: polls the /api of `concord serve` and renders with DOM nodes and text only
// (never innerHTML), so nothing the API returns can become markup. Charts are uPlot (global `uPlot`).

(() => {
  const TOKEN_KEY = "concord.token";
  const REFRESH_MS = 5000;
  const CLASSES = [
    "missing",
    "stale",
    "conflict",
    "lww-tie",
    "regression",
    "unversioned",
    "in-flight",
    "tolerated",
    "schema",
    "read-after-write",
  ];
  const CLASS_COLORS = {
    missing: "#e8590c",
    stale: "#1c7ed6",
    conflict: "#e03131",
    "lww-tie": "#ae3ec9",
    regression: "#c2255c",
    unversioned: "#f08c00",
    "in-flight": "#0ca678",
    tolerated: "#868e96",
    schema: "#5f3dc4",
    "read-after-write": "#2f9e44",
  };
  const OUTCOMES = ["applied", "noop", "superseded", "failed"];
  const OUTCOME_COLORS = { applied: "#2f9e44", noop: "#74c0fc", superseded: "#f08c00", failed: "#e03131" };
  const REPLICA_COLORS = [
    "#1c7ed6",
    "#e8590c",
    "#2f9e44",
    "#ae3ec9",
    "#c2255c",
    "#0ca678",
    "#f08c00",
    "#5f3dc4",
  ];

  const $ = (id) => {
    const el = document.getElementById(id);
    if (!el) throw new Error(`missing #${id}`);
    return el;
  };

  /** Creates an element; string children become text nodes, so API data is never parsed as HTML. */
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props ?? {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "data") for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv);
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }

  // ---------- formatting ----------

  function ago(ms) {
    if (ms === undefined || ms === null) return "—";
    const s = Math.round((Date.now() - ms) / 1000);
    if (s < -1) return `in ${duration(-s * 1000)}`;
    if (s < 2) return "just now";
    return `${duration(s * 1000)} ago`;
  }

  /**
   * A watched dataset's segment trees: whether the replicas' roots agree (or why nothing can be said), how
   * many leaves each tree knows, and when the trees were last complete.
   */
  function treeDetail(t) {
    const known = Math.min(...t.replicas.map((r) => r.known));
    const verdict =
      t.agree === true
        ? "roots agree"
        : t.agree === false
          ? "roots differ"
          : t.stale
            ? `${t.stale} segment${t.stale === 1 ? "" : "s"} changed since hashed`
            : `incomplete: ${t.replicas.length ? known : 0} of ${t.segments} segments hashed`;
    return h(
      "dd",
      { class: "trees", data: { agree: String(t.agree), segments: t.segments, dirty: t.dirty } },
      `${verdict} · ${t.dirty} dirty of ${t.segments}`,
      t.completeAt !== null ? [" · complete ", when(t.completeAt)] : "",
    );
  }

  /**
   * What adaptive focus prioritised and why: the plan's sentence, then each hot segment with the drift that made
   * it hot (divergences per hour over the window, and what its latest visits found open now) and the visits it gets (or, on a coordinator, that its job
   * went first).
   */
  function focusDetail(f) {
    const windowMs = Math.max(1, f.plannedAt - f.since);
    return h(
      "dd",
      { class: "focus", data: { visits: f.visits, segments: f.segments } },
      h("div", { class: "focus-reason" }, `${f.visits} visits over ${f.segments} segments: ${f.reason}`),
      // A watched dataset's dirty-segment passes are not focused: the plan shown is the last focused pass's.
      h("div", { class: "muted small", data: { plannedAt: f.plannedAt } }, `planned ${ago(f.plannedAt)}`),
      f.hot.length
        ? h(
            "ul",
            { class: "focus-hot" },
            f.hot.map((x) => {
              const rate = (x.divergences * 3_600_000) / windowMs;
              return h(
                "li",
                {
                  data: {
                    segment: x.segment,
                    visits: x.visits,
                    extra: x.visits - 1,
                    rate: rate.toFixed(2),
                    found: x.found ?? 0,
                  },
                },
                `segment ${x.segment + 1}: ${x.divergences} divergence${x.divergences === 1 ? "" : "s"} (${x.repaired} repaired) in ${duration(windowMs)}, ${rate < 10 ? rate.toFixed(1) : Math.round(rate)}/h · `,
                // Live evidence: divergent keys its latest visits found and act on (before any is settled).
                x.found > 0 ? `${Math.round(x.found * 10) / 10} open now · ` : "",
                x.visits > 1
                  ? `${x.visits} visits per pass (${x.visits - 1} extra)`
                  : "its job submitted first",
              );
            }),
          )
        : false,
    );
  }

  function duration(ms) {
    if (ms === undefined || ms === null || Number.isNaN(ms)) return "—";
    if (ms < 1000) return `${Math.round(ms)} ms`;
    const s = ms / 1000;
    if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
    const m = s / 60;
    if (m < 60) return `${Math.floor(m)} min${Math.round(s % 60) ? ` ${Math.round(s % 60)} s` : ""}`;
    const hr = m / 60;
    if (hr < 48) return `${Math.floor(hr)} h${Math.round(m % 60) ? ` ${Math.round(m % 60)} min` : ""}`;
    return `${Math.round(hr / 24)} d`;
  }

  function latency(ms) {
    if (ms === undefined || ms === null) return "—";
    if (ms < 0.1) return "< 0.1 ms";
    return ms < 100 ? `${ms.toFixed(1)} ms` : duration(ms);
  }

  function seconds(s) {
    return s === null || s === undefined ? "—" : duration(s * 1000);
  }

  function percent(x) {
    if (x === null || x === undefined) return "—";
    const p = x * 100;
    return `${p >= 99.95 || p === 0 ? p.toFixed(0) : p.toFixed(1)}%`;
  }

  function isoTime(ms) {
    return ms === undefined || ms === null ? "" : new Date(ms).toISOString();
  }

  function when(ms) {
    return h("time", { datetime: isoTime(ms), title: isoTime(ms) }, ago(ms));
  }

  function keyText(key) {
    return Array.isArray(key) ? key.map((k) => String(k)).join(", ") : String(key ?? "");
  }

  function shortJson(value, max = 140) {
    let text;
    try {
      text = typeof value === "string" ? value : JSON.stringify(value);
    } catch {
      text = String(value);
    }
    if (text === undefined) return "";
    return text.length > max ? `${text.slice(0, max - 1)}…` : text;
  }

  /** "1 pass", "2 passes". */
  function plural(n, one, many = `${one}s`) {
    return `${n} ${n === 1 ? one : many}`;
  }

  function sum(record) {
    return Object.values(record ?? {}).reduce((a, b) => a + (typeof b === "number" ? b : 0), 0);
  }

  // ---------- token and API ----------

  class AuthError extends Error {}

  let token = sessionStorage.getItem(TOKEN_KEY) ?? localStorage.getItem(TOKEN_KEY) ?? "";

  async function request(path, init = {}, withToken = token) {
    const headers = { accept: "application/json", authorization: `Bearer ${withToken}` };
    if (init.body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(path, { ...init, headers, cache: "no-store" });
    let body = null;
    try {
      body = await res.json();
    } catch {
      // not JSON: reported by status below
    }
    if (res.status === 401) throw new AuthError(body?.error ?? "unauthorized");
    if (!res.ok) throw new Error(body?.error ?? `HTTP ${res.status}`);
    return body;
  }

  const dialog = $("token-dialog");

  function askToken(message) {
    $("token-message").textContent = message ?? "";
    $("token-cancel").hidden = !token;
    const input = $("token-input");
    input.value = "";
    if (!dialog.open) dialog.showModal();
    input.focus();
  }

  function storeToken(value, remember) {
    token = value;
    sessionStorage.setItem(TOKEN_KEY, value);
    if (remember) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
  }

  function forgetToken() {
    token = "";
    sessionStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(TOKEN_KEY);
  }

  $("token-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = $("token-input").value.trim();
    if (!value) {
      $("token-message").textContent = "Enter the token.";
      return;
    }
    const submit = $("token-submit");
    submit.disabled = true;
    $("token-message").textContent = "";
    try {
      await request("/api/datasets", {}, value);
      storeToken(value, $("token-remember").checked);
      dialog.close();
      $("main").hidden = false;
      void refresh();
    } catch (err) {
      $("token-message").textContent =
        err instanceof AuthError
          ? "The service rejected this token."
          : `Cannot reach the service: ${err.message}`;
    } finally {
      submit.disabled = false;
    }
  });
  $("token-cancel").addEventListener("click", () => dialog.close());
  dialog.addEventListener("cancel", (event) => {
    if (!token) event.preventDefault();
  });
  $("change-token").addEventListener("click", () => askToken());

  // ---------- state ----------

  const view = {
    health: null,
    datasets: [],
    escalations: [],
    /** The escalation queue: one page of the filtered list, or the groups, and what was read on demand. */
    esc: {
      mode: "list",
      filter: { dataset: "", class: "", column: "", replica: "", group: "" },
      page: 0,
      total: 0,
      groups: [],
      /** Groups of the whole open queue (what the filter menus offer). */
      allGroups: [],
      /** Current values per escalation id, read when a row is expanded: a value, "loading" or { error }. */
      values: new Map(),
      expanded: new Set(),
    },
    runs: [],
    audit: [],
    divergences: [],
    divergencesTotal: 0,
    /** `/api/queue`: a coordinator's queue depth and workers (role "all": nothing to show). */
    queue: null,
    summaryHistory: null,
    chartHistory: null,
    verify: null,
    updatedAt: null,
    error: null,
    busy: new Set(),
    notes: new Map(),
  };

  const rangeMs = () => Number($("range").value) || 86_400_000;

  let inFlight = null;
  /** Bumped by every action (trigger, resolve): a load that started before one is stale. */
  let actions = 0;

  /**
   * Loads and renders everything. Joins a load in flight, unless `fresh` (after an action), which waits
   * for it and then loads again, so what the action changed is shown.
   */
  function refresh(fresh = false) {
    if (!token) return Promise.resolve();
    if (inFlight && !fresh) return inFlight;
    const next = (inFlight ?? Promise.resolve()).then(load).finally(() => {
      if (inFlight === next) inFlight = null;
    });
    inFlight = next;
    return next;
  }

  async function load() {
    const startedAfter = actions;
    const since = Date.now() - rangeMs();
    const cls = $("divergence-class").value;
    try {
      const filters = escFilterQuery();
      const [
        health,
        ds,
        esc,
        groups,
        allGroups,
        runs,
        audit,
        summary,
        divs,
        queue,
        policies,
        whoami,
        insights,
      ] = await Promise.all([
        fetch("/healthz", { cache: "no-store" }).then((r) => r.json()),
        request("/api/datasets"),
        request(
          `/api/escalations?status=open&limit=${escPageSize()}&offset=${view.esc.page * escPageSize()}${filters}`,
        ),
        request(`/api/escalations/groups?status=open${filters}`),
        filters ? request("/api/escalations/groups?status=open") : null,
        request("/api/runs?limit=15"),
        request("/api/audit?limit=25"),
        request(`/api/history?since=${since}`),
        request(`/api/divergences?limit=100${cls ? `&class=${encodeURIComponent(cls)}` : ""}`),
        request("/api/queue"),
        request("/api/policies"),
        request("/api/whoami"),
        request("/api/insights"),
      ]);
      const name = $("chart-dataset").value || ds.datasets[0]?.name || "";
      const chart =
        ds.datasets.length > 1 && name
          ? await request(`/api/history?dataset=${encodeURIComponent(name)}&since=${since}`)
          : summary;
      // An action finished meanwhile: this data may predate it, and a fresh load follows.
      if (startedAfter !== actions) return;
      view.health = health;
      view.datasets = ds.datasets;
      view.escalations = esc.escalations;
      view.esc.total = esc.total;
      view.esc.groups = groups.groups;
      view.esc.allGroups = (allGroups ?? groups).groups;
      // A page past the end (the last ones were resolved): show the last page instead.
      if (esc.escalations.length === 0 && esc.total > 0 && view.esc.page > 0) {
        view.esc.page = Math.floor((esc.total - 1) / escPageSize());
        return load();
      }
      view.runs = runs.runs;
      view.audit = audit.entries;
      view.summaryHistory = summary;
      view.chartHistory = chart;
      view.divergences = divs.divergences;
      view.divergencesTotal = divs.total ?? divs.divergences.length;
      view.queue = queue;
      view.policies = policies.policies;
      view.insights = insights.datasets;
      view.role = whoami.role;
      view.actor = whoami.actor;
      view.updatedAt = Date.now();
      view.error = null;
    } catch (err) {
      if (err instanceof AuthError) {
        forgetToken();
        askToken("The service rejected the token (it may have changed). Enter it again.");
        return;
      }
      view.error = err.message;
    }
    render();
  }

  // ---------- rendering ----------

  function render() {
    renderTopbar();
    renderBanner();
    renderSummary();
    renderDatasets();
    renderChartSelect();
    renderCharts();
    renderRepairOutcomes();
    renderEscalations();
    renderDivergences();
    renderRuns();
    renderQueue();
    renderPolicies();
    renderInsights();
    renderAudit();
  }

  const APPROVERS = ["approver", "admin"];

  /** Posts an approver's action (`{}` body), then refreshes; an error shows in the banner. */
  function approverAction(url) {
    return async (event) => {
      const button = event.currentTarget;
      button.disabled = true;
      try {
        await request(url, { method: "POST", body: "{}" });
        actions++;
        void refresh(true);
      } catch (err) {
        if (err instanceof AuthError) askToken("The service rejected the token. Enter it again.");
        else view.error = err.message;
        button.disabled = false;
        render();
      }
    };
  }

  /**
   * A policy change waiting for approvers (a shadow candidate's promotion, or a reloaded policy held by
   * `policyApprovals`): who asked, the approvals so far; Approve for approvers.
   */
  function approvalBlock(dataset, a) {
    const url =
      a.kind === "promotion"
        ? `/api/datasets/${encodeURIComponent(dataset)}/candidate/promote`
        : `/api/datasets/${encodeURIComponent(dataset)}/policy/approve`;
    return h(
      "div",
      { class: "candidate", data: { approvalOf: dataset, approvalKind: a.kind } },
      h(
        "p",
        {},
        h("b", {}, a.kind === "promotion" ? "Promotion to live" : "Reloaded policy held"),
        ` from ${a.source}, asked by ${a.requestedBy} ${ago(a.requestedAt)}: `,
        h(
          "span",
          { data: { approvals: "" } },
          `approvals ${a.approvals.length} of ${a.approvalsNeeded}${a.approvals.length ? `: ${a.approvals.join(", ")}` : ""}`,
        ),
      ),
      APPROVERS.includes(view.role)
        ? h(
            "button",
            { type: "button", data: { approvePolicy: dataset }, onclick: approverAction(url) },
            a.kind === "promotion" ? "Approve promotion" : "Approve policy change",
          )
        : "",
    );
  }

  /** A canary rollout: its step, how long it has held, its approvals; Approve for approvers when it waits. */
  function canaryBlock(dataset, c) {
    const pct = (f) => `${Math.round(f * 1000) / 10}%`;
    const approve = approverAction(`/api/datasets/${encodeURIComponent(dataset)}/candidate/approve`);
    return h(
      "div",
      { class: "candidate", data: { candidateOf: dataset, canaryStatus: c.status } },
      h(
        "p",
        {},
        h("b", {}, "Canary rollout"),
        ` ${c.candidatePolicyVersion ?? ""} from ${c.file}: `,
        h("span", { data: { canary: "" } }, `${c.status}, ${pct(c.fraction)} of keys`),
        ` (step ${c.step + 1} of ${c.steps.length}: ${c.steps.map(pct).join(" → ")}; held ${c.goodPasses} of ${c.passesNeeded} passes; approvals ${c.approvals.length} of ${c.approvalsNeeded}${c.approvals.length ? `: ${c.approvals.join(", ")}` : ""})`,
      ),
      c.rollback ? h("p", { class: "error" }, `Rolled back: ${c.rollback}`) : "",
      c.status === "awaiting-approval" && APPROVERS.includes(view.role)
        ? h("button", { type: "button", data: { approve: dataset }, onclick: approve }, "Approve next step")
        : "",
    );
  }

  /** Each dataset's policy versions, the last change's diff, its candidate; buttons by the token's role. */
  function renderPolicies() {
    document.body.dataset.role = view.role ?? "";
    $("reload").hidden = view.role !== "admin";
    const blocks = (view.policies ?? []).map((p) => {
      const c = p.candidate;
      const versions = p.versions.map((v) =>
        h(
          "tr",
          { data: { version: v.version } },
          h("td", { class: "mono small nowrap" }, v.version, v.version === p.current ? " (current)" : ""),
          h("td", { class: "nowrap" }, when(v.firstUsedAt)),
          h("td", {}, v.firstUsedBy),
          h("td", { class: "small" }, v.source),
        ),
      );
      return h(
        "div",
        { class: "policy", data: { policyDataset: p.dataset } },
        h("h3", {}, p.dataset),
        p.current
          ? h("p", { class: "muted small" }, `current ${p.current}, adopted ${ago(p.adoptedAt)}`)
          : h("p", { class: "muted small" }, "no repair pass has run under a policy yet"),
        table(
          [{ label: "version" }, { label: "first used" }, { label: "by" }, { label: "from" }],
          versions,
          "No versions yet.",
        ),
        p.diff.length
          ? h(
              "pre",
              { class: "diff", data: { diffOf: p.dataset } },
              p.diff.map((line) =>
                h(
                  "span",
                  { class: line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "" },
                  `${line}\n`,
                ),
              ),
            )
          : "",
        c && c.mode === "canary"
          ? canaryBlock(p.dataset, c)
          : c
            ? h(
                "div",
                { class: "candidate", data: { candidateOf: p.dataset } },
                h(
                  "p",
                  {},
                  h("b", {}, `Candidate in ${c.mode}`),
                  ` ${c.candidatePolicyVersion ?? "(not compiled yet)"} from ${c.file}: `,
                  h(
                    "span",
                    { data: { agreement: "" } },
                    c.agreementRate === null
                      ? "no divergence decided yet"
                      : `${(c.agreementRate * 100).toFixed(1)}% agreement`,
                  ),
                  ` (${c.agree} agree, ${c.disagree} disagree over ${plural(c.passes, "pass", "passes")}; would have made ${plural(c.wouldWrite, "write")})`,
                ),
                table(
                  [
                    { label: "live rule" },
                    { label: "candidate rule" },
                    { label: "disagreements", num: true },
                  ],
                  c.byRule.map((r) =>
                    h(
                      "tr",
                      {},
                      h("td", {}, r.live),
                      h("td", {}, r.candidate),
                      h("td", { class: "num" }, String(r.count)),
                    ),
                  ),
                  "No disagreement.",
                ),
                // Promotion to live starts here; once asked, the approval block below carries it.
                !p.approval && APPROVERS.includes(view.role)
                  ? h(
                      "button",
                      {
                        type: "button",
                        data: { promote: p.dataset },
                        onclick: approverAction(
                          `/api/datasets/${encodeURIComponent(p.dataset)}/candidate/promote`,
                        ),
                      },
                      "Promote to live",
                    )
                  : "",
              )
            : "",
        p.approval ? approvalBlock(p.dataset, p.approval) : "",
      );
    });
    $("policies").replaceChildren(...(blocks.length ? blocks : [h("p", { class: "muted" }, "No datasets.")]));
  }

  // ---------- insights ----------

  /** A reliability interval as a bar: the 95% interval shaded on [0, 1], the score as a tick. */
  function intervalBar(r) {
    if (!r.settled) return h("span", { class: "muted small" }, "no evidence");
    const pct = (x) => `${(x * 100).toFixed(1)}%`;
    return h(
      "span",
      {
        class: "interval",
        role: "img",
        "aria-label": `95% interval ${pct(r.low)} to ${pct(r.high)}, score ${pct(r.score)}`,
        title: `${pct(r.low)} – ${pct(r.high)}`,
        data: { low: r.low.toFixed(4), high: r.high.toFixed(4) },
      },
      styled(h("span", { class: "interval-range" }), {
        left: `${r.low * 100}%`,
        width: `${(r.high - r.low) * 100}%`,
      }),
      styled(h("span", { class: "interval-score" }), { left: `${r.score * 100}%` }),
    );
  }

  /** Sets styles through the CSSOM (the page's CSP refuses style attributes in markup). */
  function styled(el, styles) {
    for (const [k, v] of Object.entries(styles)) el.style.setProperty(k, v);
    return el;
  }

  /** At most this many columns of ranges in the heat map; more ranges are folded into groups. */
  const HEAT_RANGES = 48;

  /** Drift over key ranges (across) and columns (down): darker cells held more divergences. */
  function heatmap(name, m) {
    if (!m.cells.length) return h("p", { class: "muted small" }, "No drift in the window.");
    const per = Math.max(1, Math.ceil(m.segments / HEAT_RANGES));
    const groups = Math.max(1, Math.ceil(m.segments / per));
    const counts = new Map();
    for (const c of m.cells) {
      const k = `${c.column}\n${Math.floor(c.segment / per)}`;
      counts.set(k, (counts.get(k) ?? 0) + c.divergences);
    }
    const max = Math.max(...counts.values());
    const label = (g) =>
      per === 1 ? `range ${g}` : `ranges ${g * per}–${Math.min(m.segments, (g + 1) * per) - 1}`;
    const rows = m.columns.map((column) =>
      h(
        "tr",
        {},
        h("th", { scope: "row", class: "mono small" }, column),
        Array.from({ length: groups }, (_, g) => {
          const n = counts.get(`${column}\n${g}`) ?? 0;
          const cell = h("td", {
            class: n ? "heat-cell hot" : "heat-cell",
            title: `${column}, ${label(g)}: ${plural(n, "divergence")}`,
            data: { column, range: g, count: n },
          });
          return n ? styled(cell, { "--heat": (0.15 + 0.85 * (n / max)).toFixed(3) }) : cell;
        }),
      ),
    );
    return h(
      "div",
      { class: "heat-wrap" },
      h(
        "table",
        { class: "heatmap", data: { heatmapOf: name } },
        h(
          "caption",
          { class: "muted small" },
          `Divergences per key range × column, last ${duration(m.windowMs)}`,
        ),
        h("tbody", {}, rows),
        h(
          "tfoot",
          {},
          h(
            "tr",
            {},
            h("th", {}, ""),
            h(
              "td",
              { colspan: groups },
              h(
                "div",
                { class: "heat-axis muted small" },
                h("span", {}, label(0)),
                h("span", {}, `key ranges → ${label(groups - 1)}`),
              ),
            ),
          ),
        ),
      ),
    );
  }

  /** Downloads a recommendation's candidate policy: the file `concord plan --candidate FILE` reads. */
  function exportCandidate(dataset, r) {
    const head = [
      `# Candidate policy for dataset ${dataset}: ${r.summary}`,
      `# Recommendation ${r.id} (${r.kind}). Try it: concord plan -d ${dataset} --candidate FILE`,
      ...r.changes.map((c) => `# ${c.path}: ${JSON.stringify(c.from)} -> ${JSON.stringify(c.to)}`),
    ].map((line) => line.replace(/[\r\n]/g, " "));
    // JSON is YAML: the file reads back as the same policy block.
    const text = `${head.join("\n")}\n${JSON.stringify(r.candidatePolicy, null, 2)}\n`;
    const url = URL.createObjectURL(new Blob([text], { type: "application/yaml" }));
    const a = h("a", { href: url, download: `candidate-${dataset}-${r.id}.yaml`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  function evidenceText(e) {
    const parts = [
      Object.entries(e.counts)
        .map(([k, n]) => `${k} ${n}`)
        .join(", "),
    ];
    if (e.interval) parts.push(`interval ${percent(e.interval.low)}–${percent(e.interval.high)}`);
    if (e.exampleKeys.length) parts.push(`keys ${e.exampleKeys.map((k) => JSON.stringify(k)).join(" ")}`);
    if (e.auditIds.length) parts.push(`audit entries ${e.auditIds.join(", ")}`);
    return parts.join(" · ");
  }

  function renderInsights() {
    const blocks = (view.insights ?? []).map((d) =>
      h(
        "div",
        { class: "insight", data: { insightsDataset: d.name } },
        h("h3", {}, d.name),
        h(
          "div",
          { class: "insight-grid" },
          h(
            "div",
            {},
            h("h4", {}, "Reliability, most reliable first"),
            table(
              [
                { label: "replica" },
                { label: "score", num: true },
                { label: "95% interval" },
                { label: "settled", num: true },
                { label: "lost", num: true },
              ],
              d.replicas.map((r) =>
                h(
                  "tr",
                  { data: { replica: r.name }, class: r.flagged ? "flagged" : "" },
                  h(
                    "td",
                    {},
                    r.name,
                    r.flagged ? h("span", { class: "badge run-failed" }, "unreliable") : "",
                  ),
                  h("td", { class: "num" }, r.reliability.settled ? percent(r.reliability.score) : "—"),
                  h("td", {}, intervalBar(r.reliability)),
                  h("td", { class: "num" }, String(r.reliability.settled)),
                  h("td", { class: "num" }, String(r.reliability.lost)),
                ),
              ),
              "No replicas.",
            ),
          ),
          h(
            "div",
            {},
            h("h4", {}, "Drift heat map"),
            heatmap(d.name, d.heatmap),
            d.hotspots.length
              ? h(
                  "ul",
                  { class: "hotspots small" },
                  d.hotspots.map((s) =>
                    h(
                      "li",
                      { data: { hotspot: `${s.kind}:${s.where}` } },
                      h("b", {}, `${s.kind} ${s.where}`),
                      `: ${plural(s.divergences, "divergence")} (${s.rate.toFixed(1)}/day, ${s.trend}, ${s.nature})`,
                    ),
                  ),
                )
              : "",
          ),
        ),
        d.patterns.length
          ? [
              h("h4", {}, "Recurring patterns"),
              h(
                "ul",
                { class: "patterns small" },
                d.patterns.map((p) => h("li", {}, p.summary)),
              ),
            ]
          : "",
        h("h4", {}, "Recommendations"),
        d.recommendations.length
          ? h(
              "ul",
              { class: "recommendations" },
              d.recommendations.map((r) =>
                h(
                  "li",
                  { data: { recommendation: r.id, kind: r.kind } },
                  h("p", {}, h("span", { class: "badge" }, r.kind), " ", r.summary),
                  h("p", { class: "muted small evidence" }, evidenceText(r.evidence)),
                  r.candidatePolicy
                    ? h(
                        "button",
                        {
                          type: "button",
                          class: "small",
                          data: { export: r.id },
                          onclick: () => exportCandidate(d.name, r),
                        },
                        "Export candidate policy",
                      )
                    : h("p", { class: "muted small" }, "No policy change: scan this range more often."),
                ),
              ),
            )
          : h("p", { class: "muted small" }, "None: not enough evidence for a change yet."),
      ),
    );
    $("insights").replaceChildren(...(blocks.length ? blocks : [h("p", { class: "muted" }, "No datasets.")]));
  }

  function renderTopbar() {
    const hl = view.health;
    $("service").replaceChildren(
      hl
        ? h(
            "span",
            { class: `pill ${hl.ok ? "ok" : "bad"}` },
            h("span", { class: "dot" }),
            hl.ok ? "service up" : "service unhealthy",
          )
        : "",
      hl
        ? h(
            "span",
            { class: "muted service-detail" },
            " since ",
            when(hl.startedAt),
            ` · ${hl.datasets} dataset${hl.datasets === 1 ? "" : "s"}`,
          )
        : "",
    );
    $("updated").replaceChildren(view.updatedAt ? h("span", {}, "updated ", when(view.updatedAt)) : "");
  }

  function renderBanner() {
    const banner = $("banner");
    banner.hidden = !view.error;
    banner.textContent = view.error ? `Cannot refresh: ${view.error}. Retrying every few seconds.` : "";
  }

  function figure(label, value, hint, id) {
    return h(
      "div",
      { class: "figure", data: { figure: id } },
      h("div", { class: "figure-value" }, value),
      h("div", { class: "figure-label" }, label),
      hint ? h("div", { class: "figure-hint" }, hint) : "",
    );
  }

  function renderSummary() {
    const s = view.summaryHistory?.summary;
    const runs = view.summaryHistory?.runs ?? [];
    const open = view.datasets.reduce((n, d) => n + (d.openEscalations ?? 0), 0);
    $("summary").replaceChildren(
      figure(
        "Convergence rate",
        percent(s?.convergenceRate),
        `of ${plural(s?.passes ?? runs.length, "serve pass", "serve passes")}`,
        "convergence-rate",
      ),
      figure("Time to convergence p50", seconds(s?.ttc?.p50), "first seen → verified repair", "ttc-p50"),
      figure("p90", seconds(s?.ttc?.p90), "time to convergence", "ttc-p90"),
      figure("p99", seconds(s?.ttc?.p99), "time to convergence", "ttc-p99"),
      figure("Repair success", percent(s?.repairSuccessRate), "applied + noop", "repair-success"),
      figure("Escalation rate", percent(s?.escalationRate), "of divergences", "escalation-rate"),
      figure(
        "Open escalations",
        String(open),
        open ? "waiting for a person" : "none waiting",
        "open-escalations",
      ),
    );
  }

  function stateBadge(d) {
    if (d.state === "running" || d.state === "paused") {
      const p = d.progress;
      return h("span", { class: `badge ${d.state}` }, p ? `${d.state} ${p.done}/${p.segments}` : d.state);
    }
    return h("span", { class: `badge ${d.state}` }, d.state);
  }

  function statusBadge(status) {
    return h("span", { class: `badge run-${status}` }, status);
  }

  function classChip(cls) {
    return h(
      "span",
      { class: "chip", data: { class: cls } },
      h("span", { class: "swatch", data: { class: cls } }),
      cls,
    );
  }

  function classChips(counts) {
    const entries = CLASSES.filter((c) => (counts?.[c] ?? 0) > 0).map((c) => [c, counts[c]]);
    for (const [c, n] of Object.entries(counts ?? {}))
      if (!CLASSES.includes(c) && n > 0) entries.push([c, n]);
    if (entries.length === 0) return h("span", { class: "agree" }, "replicas agree");
    return entries.map(([c, n]) =>
      h(
        "span",
        { class: "chip", data: { class: c }, title: c },
        h("span", { class: "swatch", data: { class: c } }),
        h("b", { class: "n" }, String(n)),
        ` ${c}`,
      ),
    );
  }

  function replicaTable(d) {
    const names = new Set(d.replicas.map((r) => r.name));
    for (const r of Object.keys(d.lag ?? {})) names.add(r);
    if (names.size === 0) return h("p", { class: "muted" }, "No replica health yet.");
    const rows = [...names].map((name) => {
      const r = d.replicas.find((x) => x.name === name);
      const lag = d.lag?.[name];
      const health = !r
        ? h("span", { class: "muted" }, "—")
        : !r.up
          ? h("span", { class: "pill bad", title: r.lastError ?? "" }, h("span", { class: "dot" }), "down")
          : r.slow
            ? h("span", { class: "pill warn" }, h("span", { class: "dot" }), "slow")
            : h("span", { class: "pill ok" }, h("span", { class: "dot" }), "up");
      return h(
        "tr",
        { data: { replica: name } },
        h("td", {}, name),
        h("td", {}, health),
        h("td", { class: "num" }, latency(r?.latencyMs)),
        h(
          "td",
          { class: "num" },
          lag === undefined
            ? "—"
            : lag === null
              ? h("span", { class: "bad-text" }, "timed out")
              : seconds(lag),
        ),
      );
    });
    const errors = d.replicas.filter((r) => !r.up && r.lastError);
    return [
      h(
        "table",
        { class: "mini" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", {}, "replica"),
            h("th", {}, "health"),
            h("th", { class: "num" }, "latency"),
            h("th", { class: "num" }, "lag"),
          ),
        ),
        h("tbody", {}, rows),
      ),
      errors.map((r) => h("p", { class: "error small" }, `${r.name}: ${r.lastError}`)),
    ];
  }

  function repairLine(repairs) {
    const total = sum(repairs);
    if (!total) return h("span", { class: "muted" }, "no repairs");
    return OUTCOMES.filter((o) => repairs[o]).map((o) =>
      h("span", { class: `outcome ${o}`, data: { outcome: o } }, h("b", {}, String(repairs[o])), ` ${o}`),
    );
  }

  function renderDatasets() {
    const root = $("datasets");
    if (view.datasets.length === 0) {
      root.replaceChildren(h("p", { class: "muted" }, "No datasets configured."));
      return;
    }
    root.replaceChildren(
      ...view.datasets.map((d) => {
        const last = d.lastRun;
        const busy = view.busy.has(`trigger:${d.name}`);
        const note = view.notes.get(`trigger:${d.name}`);
        const total = sum(d.counts);
        return h(
          "article",
          { class: "card", data: { dataset: d.name } },
          h("header", { class: "card-head" }, h("h3", {}, d.name), stateBadge(d)),
          h(
            "p",
            { class: "meta" },
            `${d.mode} · `,
            d.scheduleMs
              ? `every ${duration(d.scheduleMs)}`
              : d.scheduleCron
                ? `cron ${d.scheduleCron} (UTC)`
                : "on demand",
            d.intensity !== undefined && d.intensity !== 1 ? ` · intensity ${d.intensity}` : "",
            d.nextRunAt ? [" · next ", when(d.nextRunAt)] : "",
          ),
          h(
            "dl",
            { class: "facts" },
            h("dt", {}, "Last pass"),
            h(
              "dd",
              {},
              last
                ? [
                    statusBadge(last.status),
                    " ",
                    when(last.finishedAt ?? last.startedAt),
                    last.finishedAt ? ` · took ${duration(last.finishedAt - last.startedAt)}` : "",
                  ]
                : h("span", { class: "muted" }, "none yet"),
            ),
            h("dt", {}, "Divergences"),
            h("dd", { class: "chips", data: { total } }, classChips(d.counts)),
            h("dt", {}, "Repairs"),
            h("dd", {}, repairLine(d.repairs ?? {})),
            h("dt", {}, "Escalations"),
            h(
              "dd",
              {},
              h(
                "span",
                {
                  class: d.openEscalations ? "esc-open" : "muted",
                  data: { openEscalations: d.openEscalations },
                },
                d.openEscalations ? `${d.openEscalations} open` : "none open",
              ),
            ),
            // Adaptive focus: what the latest pass prioritised and why (focus: adaptive).
            d.focus ? h("dt", {}, "Focus") : false,
            d.focus ? focusDetail(d.focus) : false,
            // Segment trees of a watched dataset's dirty-segment passes (null without a segment summary).
            d.segmentTrees ? h("dt", {}, "Segment trees") : false,
            d.segmentTrees ? treeDetail(d.segmentTrees) : false,
          ),
          replicaTable(d),
          h(
            "div",
            { class: "card-actions" },
            h(
              "button",
              { type: "button", disabled: busy, onclick: () => trigger(d.name, "scan") },
              "Scan now",
            ),
            h(
              "button",
              { type: "button", class: "primary", disabled: busy, onclick: () => trigger(d.name, "repair") },
              "Repair now",
            ),
            d.state === "running"
              ? h(
                  "button",
                  {
                    type: "button",
                    disabled: busy,
                    data: { control: "pause" },
                    onclick: () => control(d.name, "pause"),
                  },
                  "Pause",
                )
              : "",
            d.state === "paused"
              ? h(
                  "button",
                  {
                    type: "button",
                    disabled: busy,
                    data: { control: "resume" },
                    onclick: () => control(d.name, "resume"),
                  },
                  "Resume",
                )
              : "",
            d.state === "running" || d.state === "paused"
              ? h(
                  "button",
                  {
                    type: "button",
                    class: "danger",
                    disabled: busy,
                    data: { control: "abort" },
                    onclick: () => confirmAbort(d),
                  },
                  "Abort",
                )
              : "",
            note ? h("span", { class: `note ${note.ok ? "" : "error"}` }, note.text) : "",
          ),
        );
      }),
    );
  }

  /** Pauses (after the segment in flight), resumes or aborts the dataset's running pass. */
  async function control(name, action) {
    const k = `trigger:${name}`;
    view.busy.add(k);
    renderDatasets();
    try {
      const { runId, state } = await request(`/api/datasets/${encodeURIComponent(name)}/${action}`, {
        method: "POST",
      });
      const said = { pause: "pausing after the segment in flight", resume: "resumed", abort: "aborting" };
      view.notes.set(k, { ok: true, text: `pass ${runId}: ${said[action]} (${state})` });
      return true;
    } catch (err) {
      if (err instanceof AuthError) {
        askToken("The service rejected the token. Enter it again.");
        return true;
      }
      view.notes.set(k, { ok: false, text: err.message });
      return true;
    } finally {
      view.busy.delete(k);
      actions++;
      await refresh(true);
    }
  }

  function confirmAbort(d) {
    const run = d.progress?.runId ?? "the running pass";
    const c = openConfirm({
      title: `Abort ${d.name}'s pass?`,
      body: [
        h(
          "p",
          {},
          `Pass ${run} stops after the step in flight and is recorded failed (aborted); its checkpoint is dropped, so the next pass starts from the beginning. What it wrote stays in the ledger and the audit log.`,
        ),
      ],
      confirmLabel: "Abort pass",
      danger: true,
    });
    c.onConfirm(() => control(d.name, "abort"));
  }

  async function trigger(name, mode) {
    const k = `trigger:${name}`;
    view.busy.add(k);
    renderDatasets();
    try {
      const { runId } = await request(`/api/datasets/${encodeURIComponent(name)}/${mode}`, {
        method: "POST",
      });
      view.notes.set(k, { ok: true, text: `${mode} started: ${runId}` });
    } catch (err) {
      if (err instanceof AuthError) return askToken("The service rejected the token. Enter it again.");
      view.notes.set(k, { ok: false, text: err.message });
    } finally {
      view.busy.delete(k);
    }
    actions++;
    await refresh(true);
  }

  function renderChartSelect() {
    const select = $("chart-dataset");
    const names = view.datasets.map((d) => d.name);
    const current = [...select.options].map((o) => o.value);
    if (current.join("\n") !== names.join("\n")) {
      const keep = select.value;
      select.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
      if (names.includes(keep)) select.value = keep;
    }
    select.closest("label").hidden = names.length < 2;
    const cls = $("divergence-class");
    if (cls.options.length === 1) cls.append(...CLASSES.map((c) => h("option", { value: c }, c)));
  }

  // ---------- charts ----------

  const charts = new Map();

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // Whole seconds and up: passes are seconds apart at least, so sub-second ticks would only be noise.
  const TIME_INCRS = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
  ];

  /**
   * Draws (or updates) a time chart in `id`: xs in ms, series [{ label, color, values }]. `counts` charts
   * start at 0 with a top of at least 1; others (seconds) fit their data.
   */
  /** Shows the last point's values in the legend. */
  function showLatest(u) {
    const n = u.data[0]?.length ?? 0;
    if (n > 0) u.setLegend({ idx: n - 1 }, false);
  }

  const pad = (n) => String(n).padStart(2, "0");
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  /** x-axis labels: HH:MM (with seconds when ticks are under a minute apart), and the date on a new day. */
  function timeLabels(u, splits, _axisIdx, _space, incr) {
    let lastDay = "";
    const labels = splits.map((s) => {
      const d = new Date(s * 1000);
      const time = `${pad(d.getHours())}:${pad(d.getMinutes())}${incr < 60 ? `:${pad(d.getSeconds())}` : ""}`;
      const day = `${MONTHS[d.getMonth()]} ${d.getDate()}`;
      const label = day !== lastDay && lastDay !== "" ? `${time}\n${day}` : time;
      lastDay = day;
      return label;
    });
    u.xLabels = splits.map((s, i) => ({ at: s, text: labels[i] }));
    return labels;
  }

  const measure = document.createElement("canvas").getContext("2d");

  /** Records where the x-axis labels were drawn and how wide they are (data-x-ticks), for layout checks. */
  function recordTicks(u, box) {
    if (!u.xLabels || !measure) return;
    measure.font = "12px system-ui, -apple-system, sans-serif";
    const ticks = u.xLabels
      .map((l) => ({
        x: Math.round(u.valToPos(l.at, "x")),
        w: Math.ceil(Math.max(...l.text.split("\n").map((t) => measure.measureText(t).width))),
      }))
      .filter((t) => t.x >= 0 && t.x <= u.bbox.width / uPlot.pxRatio);
    box.dataset.xTicks = JSON.stringify(ticks);
  }

  function drawChart(id, xs, series, empty, counts) {
    const box = $(id);
    const existing = charts.get(id);
    const signature = series.map((s) => s.label).join("\n");
    if (xs.length === 0 || series.length === 0 || typeof uPlot === "undefined") {
      existing?.plot.destroy();
      charts.delete(id);
      box.replaceChildren(h("p", { class: "chart-empty" }, empty));
      return;
    }
    const data = [xs.map((x) => x / 1000), ...series.map((s) => s.values)];
    if (existing && existing.signature === signature) {
      existing.plot.setData(data);
      showLatest(existing.plot);
      return;
    }
    existing?.plot.destroy();
    box.replaceChildren();
    const axis = {
      stroke: cssVar("--muted"),
      grid: { stroke: cssVar("--grid"), width: 1 },
      ticks: { show: false },
    };
    const plot = new uPlot(
      {
        width: Math.max(240, box.clientWidth),
        height: 220,
        cursor: { points: { size: 7 } },
        legend: { live: true },
        hooks: {
          // Off the chart, the legend shows the latest values instead of "--".
          setCursor: [
            (u) => {
              if (u.cursor.idx === null || u.cursor.idx === undefined) showLatest(u);
            },
          ],
          draw: [(u) => recordTicks(u, box)],
        },
        scales: {
          // At least a minute wide, ending at the last point, so a few close points do not fill the width.
          x: { time: true, range: (_u, min, max) => (max - min < 60 ? [max - 60, max + 3] : [min, max]) },
          y: {
            range: (_u, _min, max) => [
              0,
              counts ? Math.max(1, Math.ceil(max * 1.1)) : Math.max(0.01, max * 1.2),
            ],
          },
        },
        axes: [
          // Room for a label per tick (a time, a date under a day's first): labels never touch at any width.
          { ...axis, incrs: TIME_INCRS, space: 90, values: timeLabels },
          {
            ...axis,
            size: 50,
            values: (_u, ticks) => ticks.map((t) => (counts || t >= 10 ? String(t) : String(+t.toFixed(3)))),
          },
        ],
        series: [
          { label: "time" },
          ...series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: 2,
            spanGaps: true,
            // A pass samples a state that holds until the next one: a step, not a slope between samples.
            paths: uPlot.paths.stepped({ align: 1 }),
            points: { show: true, size: 6, fill: s.color },
          })),
        ],
      },
      data,
      box,
    );
    charts.set(id, { plot, signature });
    // The chart object on its box (a property, not markup), for layout checks.
    box.uplot = plot;
    showLatest(plot);
  }

  const resizer = new ResizeObserver(() => {
    for (const [id, c] of charts) {
      const width = Math.max(240, $(id).clientWidth);
      if (Math.abs(c.plot.width - width) > 2) c.plot.setSize({ width, height: 220 });
    }
  });
  for (const id of ["chart-divergences", "chart-lag", "chart-repairs"]) resizer.observe($(id));

  function renderCharts() {
    const hist = view.chartHistory;
    const runs = hist?.runs ?? [];
    const xs = runs.map((r) => r.at);
    const present = CLASSES.filter((c) => runs.some((r) => (r.counts?.[c] ?? 0) > 0));
    drawChart(
      "chart-divergences",
      xs,
      present.map((c) => ({ label: c, color: CLASS_COLORS[c], values: runs.map((r) => r.counts?.[c] ?? 0) })),
      runs.length
        ? "No divergence in this window: the replicas agreed on every pass."
        : "No finished passes in this window yet.",
    );
    const outcomes = OUTCOMES.filter((o) => runs.some((r) => (r.repairs?.[o] ?? 0) > 0));
    drawChart(
      "chart-repairs",
      xs,
      outcomes.map((o) => ({
        label: o,
        color: OUTCOME_COLORS[o],
        values: runs.map((r) => r.repairs?.[o] ?? 0),
      })),
      runs.length ? "No repairs in this window." : "No finished passes in this window yet.",
      true,
    );
    const lag = (hist?.lag ?? []).slice().sort((a, b) => a.at - b.at);
    const replicas = [...new Set(lag.map((s) => s.label))].sort();
    const times = [...new Set(lag.map((s) => s.at))];
    const index = new Map(times.map((t, i) => [t, i]));
    drawChart(
      "chart-lag",
      times,
      replicas.map((r, i) => {
        const values = times.map(() => null);
        for (const s of lag) if (s.label === r) values[index.get(s.at)] = s.value;
        return { label: r, color: REPLICA_COLORS[i % REPLICA_COLORS.length], values };
      }),
      "No probe samples in this window (configure probe: on the dataset to measure lag).",
      false,
    );
  }

  function renderRepairOutcomes() {
    const totals = Object.fromEntries(OUTCOMES.map((o) => [o, 0]));
    for (const r of view.chartHistory?.runs ?? []) {
      for (const [o, n] of Object.entries(r.repairs ?? {})) totals[o] = (totals[o] ?? 0) + n;
    }
    const total = sum(totals);
    const root = $("repair-outcomes");
    if (!total) {
      root.replaceChildren(h("p", { class: "muted" }, "No repairs in this window."));
      return;
    }
    root.replaceChildren(
      h(
        "div",
        { class: "bars" },
        Object.entries(totals).map(([o, n]) => {
          const bar = h("span", { class: `bar ${o}${n ? "" : " zero"}` });
          bar.style.width = `${(n / total) * 100}%`;
          return h(
            "div",
            { class: "bar-row", data: { outcome: o } },
            h("span", { class: "bar-label" }, o),
            h("span", { class: "bar-track" }, bar),
            h("span", { class: "bar-value num" }, String(n)),
          );
        }),
      ),
      h(
        "p",
        { class: "muted small" },
        `${plural(total, "repair")} over ${plural(view.chartHistory.runs.length, "pass", "passes")}.`,
      ),
    );
  }

  // ---------- escalations ----------

  /** Escalations per page: fewer on a narrow screen, where each takes a block of its own. */
  const narrow = window.matchMedia("(max-width: 640px)");
  const escPageSize = () => (narrow.matches ? 10 : 25);
  narrow.addEventListener("change", () => {
    view.esc.page = 0;
    actions++;
    void refresh(true);
  });
  const ESC_CLASSES = [...CLASSES, "guard"];

  /** The escalation filter as query parameters (`&name=value…`), empty when nothing is filtered. */
  function escFilterQuery() {
    return Object.entries(view.esc.filter)
      .filter(([, v]) => v)
      .map(([k, v]) => `&${k}=${encodeURIComponent(v)}`)
      .join("");
  }

  /** "absent on b", "differs in note" (an escalation or a group). */
  function patternText(e) {
    if (e.description) return e.description;
    const parts = [];
    if (e.absent?.length) parts.push(`absent on ${e.absent.join(", ")}`);
    if (e.columns?.length)
      parts.push(`${e.class === "schema" ? "column" : "differs in"} ${e.columns.join(", ")}`);
    return parts.join("; ") || "—";
  }

  /** Fills a filter menu with `values`, keeping the current choice (even when it has no escalation now). */
  function fillSelect(id, values) {
    const select = $(id);
    const keep = select.value;
    const all = [...new Set([...values, ...(keep ? [keep] : [])])];
    const current = [...select.options].slice(1).map((o) => o.value);
    if (current.join("\n") === all.join("\n")) return;
    select.replaceChildren(
      h("option", { value: "" }, "all"),
      ...all.map((v) => h("option", { value: v }, v)),
    );
    select.value = keep;
  }

  function renderEscalationFilters() {
    const groups = view.esc.allGroups;
    fillSelect(
      "esc-dataset",
      view.datasets.map((d) => d.name),
    );
    fillSelect(
      "esc-class",
      ESC_CLASSES.filter((c) => groups.some((g) => g.class === c)),
    );
    fillSelect("esc-column", [...new Set(groups.flatMap((g) => g.columns))].sort());
    const replicas = new Set();
    for (const d of view.datasets) {
      for (const r of d.replicas) replicas.add(r.name);
      for (const r of Object.keys(d.lag ?? {})) replicas.add(r);
    }
    for (const e of view.escalations) for (const r of Object.keys(e.replicas ?? {})) replicas.add(r);
    fillSelect("esc-replica", [...replicas].sort());
    const group = view.esc.filter.group;
    const g = group && view.esc.allGroups.find((x) => x.id === group);
    $("esc-group-filter").replaceChildren(
      group
        ? h(
            "span",
            { class: "chip filter-chip", data: { groupFilter: group } },
            `group: ${g ? `${g.dataset} · ${g.class} · ${patternText(g)}` : group}`,
            h(
              "button",
              {
                type: "button",
                class: "ghost small",
                title: "Show every group",
                "aria-label": "Clear the group filter",
                onclick: () => setEscFilter({ group: "" }),
              },
              "×",
            ),
          )
        : "",
    );
    for (const [mode, id] of [
      ["list", "esc-view-list"],
      ["groups", "esc-view-groups"],
    ])
      $(id).setAttribute("aria-pressed", String(view.esc.mode === mode));
  }

  function setEscFilter(change) {
    Object.assign(view.esc.filter, change);
    view.esc.page = 0;
    actions++;
    void refresh(true);
  }

  function renderEscalations() {
    renderEscalationFilters();
    const open = view.datasets.reduce((n, d) => n + (d.openEscalations ?? 0), 0);
    $("escalation-count").textContent = open ? String(open) : "";
    const root = $("escalations");
    const messages = [...view.notes.entries()]
      .filter(([k]) => k.startsWith("resolve:"))
      .map(([, n]) => h("p", { class: `note ${n.ok ? "" : "error"}` }, n.text));
    const filtered = escFilterQuery() !== "";
    if (view.esc.total === 0) {
      root.replaceChildren(
        ...messages,
        h(
          "p",
          { class: filtered ? "muted" : "empty-ok" },
          filtered ? "No open escalation matches these filters." : "Nothing is waiting for a person.",
        ),
      );
      $("esc-pager").replaceChildren();
      return;
    }
    if (view.esc.mode === "groups") {
      root.replaceChildren(...messages, groupTable());
      $("esc-pager").replaceChildren();
      return;
    }
    root.replaceChildren(...messages, escalationTable());
    renderPager();
  }

  function escalationTable() {
    const rows = [];
    for (const e of view.escalations) {
      const busy = view.busy.has(`resolve:${e.id}`);
      const expanded = view.esc.expanded.has(e.id);
      rows.push(
        h(
          "tr",
          { data: { escalationId: e.id } },
          h("td", {}, h("b", {}, e.dataset), h("div", { class: "key" }, keyText(e.key))),
          h("td", {}, classChip(e.class)),
          h(
            "td",
            { class: "reason" },
            h("div", { class: "pattern" }, patternText(e)),
            h("div", { class: "muted small" }, e.reason),
          ),
          h("td", { class: "nowrap" }, when(Date.parse(e.createdAt))),
          h(
            "td",
            { class: "actions" },
            e.key.length
              ? h(
                  "button",
                  {
                    type: "button",
                    class: "small ghost",
                    "aria-expanded": String(expanded),
                    data: { values: "" },
                    title: "Read this key's values on every replica now",
                    onclick: () => toggleValues(e),
                  },
                  expanded ? "hide values" : "values",
                )
              : "",
            e.options.map((o) =>
              h(
                "button",
                {
                  type: "button",
                  class: "primary small",
                  disabled: busy,
                  data: { pick: o },
                  title: `Make ${o}'s state win for this key (asks to confirm)`,
                  onclick: () => confirmResolve(e, { pick: o }),
                },
                `pick ${o}`,
              ),
            ),
            h(
              "button",
              {
                type: "button",
                class: "small danger",
                disabled: busy,
                data: { reject: "" },
                title: "Close without writing (asks to confirm)",
                onclick: () => confirmResolve(e, { reject: true }),
              },
              "reject",
            ),
          ),
        ),
      );
      if (expanded)
        rows.push(
          h(
            "tr",
            { class: "values-row", data: { valuesOf: e.id } },
            h("td", { colspan: 5 }, valuesView(view.esc.values.get(e.id))),
          ),
        );
    }
    const t = table(
      [
        { label: "dataset · key" },
        { label: "class" },
        { label: "pattern · reason" },
        { label: "since" },
        { label: "resolve" },
      ],
      rows,
      "",
      { id: "escalation-table" },
    );
    // The values row spans the table: no label of its own on narrow screens.
    for (const cell of t.querySelectorAll("tr.values-row td")) cell.dataset.label = "";
    return t;
  }

  function renderPager() {
    const { total, page } = view.esc;
    const size = escPageSize();
    const pages = Math.max(1, Math.ceil(total / size));
    const from = page * size + 1;
    const to = Math.min(total, from + view.escalations.length - 1);
    const go = (p) => () => {
      view.esc.page = p;
      actions++;
      void refresh(true);
    };
    $("esc-pager").replaceChildren(
      h("span", { class: "muted", data: { pagerText: "" } }, `${from}–${to} of ${total}`),
      ...(pages > 1
        ? [
            h(
              "button",
              {
                type: "button",
                class: "small",
                disabled: page === 0,
                data: { page: "prev" },
                onclick: go(page - 1),
              },
              "‹ previous",
            ),
            h("span", { class: "muted" }, `page ${page + 1} of ${pages}`),
            h(
              "button",
              {
                type: "button",
                class: "small",
                disabled: page + 1 >= pages,
                data: { page: "next" },
                onclick: go(page + 1),
              },
              "next ›",
            ),
          ]
        : []),
    );
  }

  function groupTable() {
    const rows = view.esc.groups.map((g) =>
      h(
        "tr",
        { data: { groupId: g.id } },
        h("td", { class: "num" }, h("b", {}, String(g.count))),
        h("td", {}, g.dataset),
        h("td", {}, classChip(g.class)),
        h("td", { class: "pattern" }, patternText(g)),
        h("td", { class: "nowrap" }, when(Date.parse(g.oldestAt))),
        h(
          "td",
          { class: "actions" },
          h(
            "button",
            {
              type: "button",
              class: "small",
              data: { showGroup: "" },
              onclick: () => {
                view.esc.mode = "list";
                setEscFilter({ group: g.id });
              },
            },
            "show",
          ),
          g.class === "schema" || g.class === "guard"
            ? ""
            : h(
                "button",
                {
                  type: "button",
                  class: "small primary",
                  data: { resolveGroup: "" },
                  title: "Resolve every open escalation of this group with one choice (asks to confirm)",
                  onclick: () => confirmGroup(g),
                },
                "resolve all like this…",
              ),
        ),
      ),
    );
    return table(
      [
        { label: "count", num: true },
        { label: "dataset" },
        { label: "class" },
        { label: "pattern" },
        { label: "oldest" },
        { label: "act" },
      ],
      rows,
      "No groups.",
      { id: "group-table" },
    );
  }

  /** Reads (or forgets) a key's current values on every replica, shown under its row. */
  async function toggleValues(e) {
    if (view.esc.expanded.delete(e.id)) {
      renderEscalations();
      return;
    }
    view.esc.expanded.add(e.id);
    await readValues(e.id, renderEscalations);
  }

  async function readValues(id, onChange) {
    view.esc.values.set(id, "loading");
    onChange();
    try {
      view.esc.values.set(id, await request(`/api/escalations/${encodeURIComponent(id)}/values`));
    } catch (err) {
      if (err instanceof AuthError) return askToken("The service rejected the token. Enter it again.");
      view.esc.values.set(id, { error: err.message });
    }
    onChange();
  }

  /** The values each replica holds now, side by side: the differing columns (all when one lacks it). */
  function valuesView(v) {
    if (v === undefined || v === "loading") return h("p", { class: "muted small" }, "Reading the replicas…");
    if (v.error) return h("p", { class: "error small" }, `Cannot read the values: ${v.error}`);
    if (v.state === "agree")
      return h(
        "p",
        { class: "empty-ok small", data: { valuesState: "agree" } },
        "The replicas agree now: nothing left to resolve.",
      );
    const replicas = Object.keys(v.replicas);
    const someAbsent = replicas.some((r) => !v.replicas[r].present);
    const columns = someAbsent || v.differing.length === 0 ? v.columns : v.differing;
    const cell = (r, c) => {
      const o = v.replicas[r];
      if (!o.present) return h("td", { class: "absent" }, "(absent)");
      const value = o.values?.[c];
      return h(
        "td",
        { class: `value${v.differing.includes(c) ? " differs" : ""}` },
        value === null || value === undefined
          ? h("span", { class: "muted" }, "NULL")
          : value === ""
            ? '""'
            : value,
      );
    };
    return h(
      "div",
      { class: "values", data: { valuesState: v.state } },
      v.changed
        ? h(
            "p",
            { class: "note error" },
            "Changed since it was escalated: a pick now writes nothing (the next run re-evaluates it).",
          )
        : "",
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "mini side-by-side" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", {}, "column"),
              replicas.map((r) => h("th", { data: { replica: r } }, r)),
            ),
          ),
          h(
            "tbody",
            {},
            columns.map((c) =>
              h(
                "tr",
                { data: { column: c } },
                h(
                  "th",
                  { scope: "row" },
                  c,
                  v.differing.includes(c) ? h("span", { class: "differs-mark", title: "differs" }, " ≠") : "",
                ),
                replicas.map((r) => cell(r, c)),
              ),
            ),
          ),
        ),
      ),
    );
  }

  // ---------- confirmation ----------

  const confirmDialog = $("confirm-dialog");
  let confirmSubmit = null;

  /**
   * Opens the confirmation dialog: `body` (nodes, may change while open through `update`), and `onConfirm`,
   * which runs on Confirm and closes the dialog when it resolves true (false keeps it open, e.g. to show an error).
   */
  function openConfirm({ title, body, confirmLabel, danger, ready = true }) {
    $("confirm-title").textContent = title;
    $("confirm-body").replaceChildren(...body);
    $("confirm-message").textContent = "";
    const ok = $("confirm-ok");
    ok.textContent = confirmLabel;
    ok.className = danger ? "danger" : "primary";
    ok.disabled = !ready;
    if (!confirmDialog.open) confirmDialog.showModal();
    return {
      update: (nodes) => $("confirm-body").replaceChildren(...nodes),
      ready: (yes) => {
        ok.disabled = !yes;
      },
      message: (text) => {
        $("confirm-message").textContent = text;
      },
      onConfirm: (fn) => {
        confirmSubmit = fn;
      },
    };
  }

  $("confirm-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const fn = confirmSubmit;
    if (!fn) return;
    const ok = $("confirm-ok");
    ok.disabled = true;
    try {
      if (await fn()) {
        confirmSubmit = null;
        confirmDialog.close();
      }
    } finally {
      ok.disabled = false;
    }
  });
  $("confirm-cancel").addEventListener("click", () => {
    confirmSubmit = null;
    confirmDialog.close();
  });
  confirmDialog.addEventListener("close", () => {
    confirmSubmit = null;
  });

  /** Asks before resolving one escalation, showing what each replica holds now. */
  function confirmResolve(e, choice) {
    const pick = "pick" in choice;
    const what = pick
      ? `Make ${choice.pick}'s state win for ${e.dataset} ${keyText(e.key)}?`
      : `Reject the escalation of ${e.dataset} ${keyText(e.key)}?`;
    const explain = pick
      ? h(
          "p",
          {},
          `Every other replica gets ${choice.pick}'s record${e.absent?.includes(choice.pick) ? " (its absence: the record is deleted there)" : ""}, written only if the replicas still hold what was escalated, then verified and audited.`,
        )
      : h("p", {}, "It is closed without writing anything; the audit records who rejected it.");
    const body = () => [explain, e.key.length ? valuesView(view.esc.values.get(e.id)) : ""];
    const dialogView = openConfirm({
      title: what,
      body: body(),
      confirmLabel: pick ? `Pick ${choice.pick}` : "Reject",
      danger: !pick,
    });
    if (e.key.length) void readValues(e.id, () => dialogView.update(body()));
    dialogView.onConfirm(async () => {
      await resolve(e, choice);
      return true;
    });
  }

  /** "Resolve all like this": choose, see how many match, confirm with the preview's token. */
  async function confirmGroup(g) {
    let first = null;
    let choice = null;
    let preview = null;
    const select = h(
      "select",
      {
        id: "group-choice",
        onchange: async () => {
          choice =
            select.value === "reject" ? { reject: true } : select.value ? { pick: select.value } : null;
          preview = null;
          dialogView.ready(false);
          draw();
          if (!choice) return;
          try {
            const p = await request("/api/escalations/resolve", {
              method: "POST",
              body: JSON.stringify({ group: g.id, ...choice }),
            });
            preview = p;
            dialogView.ready(p.matched > 0);
          } catch (err) {
            dialogView.message(err.message);
          }
          draw();
        },
      },
      h("option", { value: "" }, "choose…"),
    );
    const draw = () =>
      dialogView.update([
        h(
          "p",
          {},
          `${g.count} open escalation${g.count === 1 ? "" : "s"} of ${g.dataset}: ${g.class}, ${patternText(g)}.`,
        ),
        h("label", { class: "inline" }, "Resolve them all by ", select),
        preview
          ? h(
              "p",
              { class: "confirm-count", data: { matched: preview.matched } },
              choice && "pick" in choice
                ? `${preview.matched} escalation${preview.matched === 1 ? "" : "s"} will have ${choice.pick}'s state written to the other replicas — each only where the record is unchanged since it was escalated, verified and audited.`
                : `${preview.matched} escalation${preview.matched === 1 ? "" : "s"} will be rejected (nothing written).`,
            )
          : "",
        first ? h("p", { class: "muted small" }, "The first of the group, as the replicas hold it now:") : "",
        first ? valuesView(view.esc.values.get(first.id)) : "",
      ]);
    const dialogView = openConfirm({
      title: "Resolve all like this",
      body: [],
      confirmLabel: "Resolve all",
      ready: false,
    });
    draw();
    try {
      first = (await request(`/api/escalations/${encodeURIComponent(g.first)}`)).escalation;
      select.append(
        ...first.options.map((o) => h("option", { value: o }, `picking ${o}`)),
        h("option", { value: "reject" }, "rejecting them"),
      );
      draw();
      await readValues(first.id, draw);
    } catch (err) {
      dialogView.message(err.message);
    }
    dialogView.onConfirm(async () => {
      if (!choice || !preview) return false;
      const k = `resolve:group:${g.id}`;
      try {
        const out = await request("/api/escalations/resolve", {
          method: "POST",
          body: JSON.stringify({ group: g.id, ...choice, confirm: { token: preview.token } }),
        });
        const applied = out.repairs?.applied ?? 0;
        setNote(k, {
          ok: out.open.length === 0,
          text: `${g.dataset} · ${patternText(g)}: ${out.resolved} resolved, ${out.rejected} rejected, ${out.open.length} left open${applied ? ` (${applied} repair${applied === 1 ? "" : "s"} applied)` : ""}.`,
        });
      } catch (err) {
        if (err instanceof AuthError) {
          askToken("The service rejected the token. Enter it again.");
          return true;
        }
        dialogView.message(err.message);
        return false;
      }
      actions++;
      void refresh(true);
      return true;
    });
  }

  async function resolve(e, choice) {
    const k = `resolve:${e.id}`;
    view.busy.add(k);
    renderEscalations();
    const what = "pick" in choice ? `pick ${choice.pick}` : "reject";
    try {
      const out = await request(`/api/escalations/${encodeURIComponent(e.id)}/resolve`, {
        method: "POST",
        body: JSON.stringify(choice),
      });
      const applied = (out.repairs ?? []).filter((r) => r.outcome === "applied").length;
      const text =
        out.status === "open"
          ? `${e.dataset} ${keyText(e.key)}: still open (${out.note ?? "the write did not verify"})`
          : `${e.dataset} ${keyText(e.key)}: ${out.status} (${what}${applied ? `, ${applied} repair${applied > 1 ? "s" : ""} applied` : ""}${out.note ? `; ${out.note}` : ""})`;
      setNote(k, { ok: out.status !== "open", text });
      if (out.status !== "open") {
        view.escalations = view.escalations.filter((x) => x.id !== e.id);
        view.esc.total = Math.max(0, view.esc.total - 1);
        view.esc.expanded.delete(e.id);
      }
    } catch (err) {
      if (err instanceof AuthError) return askToken("The service rejected the token. Enter it again.");
      setNote(k, { ok: false, text: `${e.dataset} ${keyText(e.key)}: ${err.message}` });
    } finally {
      view.busy.delete(k);
    }
    renderEscalations();
    actions++;
    await refresh(true);
  }

  /** Keeps an action's message on screen for a while (notes about resolutions are few and short-lived). */
  function setNote(k, note) {
    view.notes.set(k, note);
    setTimeout(() => {
      if (view.notes.get(k) === note) {
        view.notes.delete(k);
        render();
      }
    }, 15_000);
  }

  // ---------- divergences, runs, audit ----------

  /** A list table; each cell carries its column's label, which narrow screens show beside the value. */
  function table(columns, rows, empty, attrs = {}) {
    if (rows.length === 0) return h("p", { class: "muted" }, empty);
    for (const row of rows) {
      [...row.children].forEach((cell, i) => {
        cell.dataset.label = columns[i]?.label ?? "";
      });
    }
    return h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "list", ...attrs },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            columns.map((c) => h("th", { class: c.num ? "num" : "" }, c.label)),
          ),
        ),
        h("tbody", {}, rows),
      ),
    );
  }

  /** A version as people read it: the counter ("v5"), else the timestamp, else the vector. */
  function versionText(v) {
    if (!v || typeof v !== "object") return undefined;
    if (v.counter !== undefined) return `v${v.counter}`;
    if (typeof v.timestamp === "string") return `@${v.timestamp.replace("T", " ").replace(/\.0+Z$|Z$/, "")}`;
    if (v.vector !== undefined) return shortJson(v.vector, 60);
    return undefined;
  }

  /** "columns: name · a v2 · b absent" from a divergence's detail; short JSON for shapes it does not know. */
  function detailSummary(detail) {
    if (!detail || typeof detail !== "object") return shortJson(detail);
    const parts = [];
    if (typeof detail.detail === "string") parts.push(detail.detail);
    if (Array.isArray(detail.columns) && detail.columns.length)
      parts.push(`columns: ${detail.columns.join(", ")}`);
    if (detail.replicas && typeof detail.replicas === "object") {
      for (const [name, r] of Object.entries(detail.replicas)) {
        if (!r || typeof r !== "object") continue;
        parts.push(`${name}: ${r.present === false ? "absent" : (versionText(r.version) ?? "present")}`);
      }
    }
    if (Array.isArray(detail.regressed) && detail.regressed.length)
      parts.push(`regressed: ${detail.regressed.join(", ")}`);
    return parts.length ? parts.join(" · ") : shortJson(detail);
  }

  function renderDivergences() {
    const rows = view.divergences.map((d) =>
      h(
        "tr",
        { data: { dataset: d.dataset } },
        h("td", {}, d.dataset),
        h("td", { class: "key" }, keyText(d.key)),
        h("td", {}, classChip(d.class)),
        h("td", { class: "detail" }, detailSummary(d.detail)),
        h("td", { class: "mono small nowrap" }, d.runId),
      ),
    );
    $("divergences").replaceChildren(
      table(
        [{ label: "dataset" }, { label: "key" }, { label: "class" }, { label: "detail" }, { label: "run" }],
        rows,
        "No divergences in the last pass.",
      ),
      // The API answers a page: say how many the last passes hold when that is more than shown.
      ...(view.divergencesTotal > view.divergences.length
        ? [
            h(
              "p",
              { class: "muted small", id: "divergences-more" },
              `showing ${view.divergences.length.toLocaleString("en")} of ${view.divergencesTotal.toLocaleString("en")}`,
            ),
          ]
        : []),
    );
  }

  /** A coordinator's queue and workers (`serve --role coordinator`); hidden under `--role all`. */
  function renderQueue() {
    const q = view.queue;
    $("workers-panel").hidden = q?.role !== "coordinator";
    if (q?.role !== "coordinator") return;
    const depth = q.datasets.map((d) =>
      h(
        "tr",
        { data: { dataset: d.dataset } },
        h("td", {}, d.dataset),
        h("td", { class: "num" }, String(d.waiting)),
        h("td", { class: "num" }, String(d.active)),
        h("td", { class: "num" }, String(d.delayed)),
        h("td", { class: "num" }, String(d.failed)),
        h("td", { class: "num" }, d.oldestWaitingMs ? duration(d.oldestWaitingMs) : "–"),
      ),
    );
    $("queue").replaceChildren(
      table(
        [
          { label: "dataset" },
          { label: "waiting", num: true },
          { label: "running", num: true },
          { label: "retrying", num: true },
          { label: "failed", num: true },
          { label: "oldest waiting", num: true },
        ],
        depth,
        "No dataset queues.",
      ),
    );
    const workers = q.workers
      .slice()
      .sort((a, b) => b.segments - a.segments)
      .map((w) =>
        h(
          "tr",
          {},
          h("td", { class: "mono small nowrap" }, w.worker),
          h("td", {}, w.dataset),
          h("td", { class: "num" }, String(w.segments)),
        ),
      );
    $("workers").replaceChildren(
      table(
        [{ label: "worker" }, { label: "dataset" }, { label: "segments done", num: true }],
        workers,
        "No segment finished since this coordinator started.",
      ),
    );
    // The latest failed attempts (the API keeps 50, oldest first): newest first, the last attempt marked.
    const failures = (q.failures ?? []).slice().reverse();
    $("failure-count").textContent = failures.length ? String(failures.length) : "";
    const failed = failures.map((f) =>
      h(
        "tr",
        { data: { failure: f.runId, final: f.final ? "true" : "false" }, class: f.final ? "bad" : "" },
        h("td", { class: "mono small nowrap" }, f.worker ?? "unknown"),
        h("td", {}, f.dataset),
        h("td", { class: "num" }, f.index === undefined || f.index === null ? "–" : String(f.index + 1)),
        h("td", { class: "mono small nowrap" }, f.runId),
        h("td", { class: "num" }, f.final ? `${f.attempt} (last)` : String(f.attempt)),
        h("td", { class: "detail" }, f.error),
        h("td", { class: "nowrap" }, when(f.at)),
      ),
    );
    $("failures").replaceChildren(
      table(
        [
          { label: "worker" },
          { label: "dataset" },
          { label: "segment", num: true },
          { label: "run" },
          { label: "attempt", num: true },
          { label: "error" },
          { label: "time" },
        ],
        failed,
        "No failed attempt since this coordinator started.",
        { "aria-labelledby": "failures-title" },
      ),
    );
  }

  function renderRuns() {
    const rows = view.runs.map((r) =>
      h(
        "tr",
        { data: { runId: r.id }, class: view.runDetail?.id === r.id ? "selected" : "" },
        h(
          "td",
          { class: "mono small nowrap" },
          h("button", { type: "button", class: "link", onclick: () => showRun(r.id) }, r.id),
        ),
        h("td", {}, r.dataset),
        h("td", { class: "nowrap" }, r.command),
        h("td", { class: "nowrap" }, when(r.startedAt)),
        h("td", { class: "num" }, r.finishedAt ? duration(r.finishedAt - r.startedAt) : "…"),
        h("td", {}, statusBadge(r.status)),
        h("td", {}, h("div", { class: "chips" }, classChips(r.counts))),
      ),
    );
    $("runs").replaceChildren(
      table(
        [
          { label: "run" },
          { label: "dataset" },
          { label: "command" },
          { label: "started" },
          { label: "took", num: true },
          { label: "status" },
          { label: "divergences" },
        ],
        rows,
        "No runs yet.",
      ),
    );
    renderRunDetail();
  }

  /** Opens the drill-down of one run: its record per dataset and its segment groups. */
  async function showRun(id) {
    try {
      view.runDetail = { id, ...(await request(`/api/runs/${encodeURIComponent(id)}`)) };
    } catch (err) {
      if (err instanceof AuthError) return askToken("The service rejected the token. Enter it again.");
      view.runDetail = { id, error: err.message, runs: [], segments: [] };
    }
    renderRuns();
    $("run-detail").scrollIntoView({ block: "nearest" });
  }

  function renderRunDetail() {
    const root = $("run-detail");
    const d = view.runDetail;
    if (!d) {
      root.replaceChildren();
      root.hidden = true;
      return;
    }
    root.hidden = false;
    const records = d.runs.map((r) =>
      h(
        "p",
        { class: "meta", data: { dataset: r.dataset } },
        h("strong", {}, r.dataset),
        " · ",
        r.command,
        " · ",
        statusBadge(r.status),
        r.finishedAt ? ` · took ${duration(r.finishedAt - r.startedAt)}` : " · under way",
        r.stats?.aborted ? " · aborted" : "",
      ),
    );
    const segments = d.segments.map((s) =>
      h(
        "tr",
        { data: { from: s.from, to: s.to } },
        h(
          "td",
          { class: "nowrap" },
          s.to - s.from === 1 ? `${s.from + 1}/${s.of}` : `${s.from + 1}–${s.to}/${s.of}`,
        ),
        h("td", {}, s.dataset),
        h("td", { class: "nowrap" }, when(s.startedAt)),
        h("td", { class: "num" }, duration(s.durationMs)),
        h("td", { class: "num" }, duration(s.scanMs)),
        h(
          "td",
          { class: "num" },
          Object.entries(s.rows)
            .map(([r, n]) => `${r} ${n}`)
            .join(" · "),
        ),
        h("td", {}, h("div", { class: "chips" }, classChips(s.counts))),
        h("td", {}, repairLine(s.repairs)),
      ),
    );
    root.replaceChildren(
      h(
        "div",
        { class: "section-head" },
        h("h3", {}, `Run ${d.id}`),
        h("button", { type: "button", class: "ghost small", onclick: closeRun }, "Close"),
      ),
      d.error ? h("p", { class: "error" }, d.error) : "",
      ...records,
      table(
        [
          { label: "segments" },
          { label: "dataset" },
          { label: "started" },
          { label: "took", num: true },
          { label: "scan", num: true },
          { label: "rows", num: true },
          { label: "divergences" },
          { label: "repairs" },
        ],
        segments,
        "No segments recorded for this run (a run over a list of keys, or one past the retention).",
        { id: "segment-table" },
      ),
    );
  }

  function closeRun() {
    view.runDetail = undefined;
    renderRuns();
  }

  function auditDetail(e) {
    const d = e.data && typeof e.data === "object" ? e.data : {};
    const parts = [];
    if (typeof d.class === "string") parts.push(d.class);
    if (typeof d.action === "string") parts.push(d.action);
    if (typeof d.target === "string") parts.push(`→ ${d.target}`);
    if (typeof d.pick === "string") parts.push(`pick ${d.pick}`);
    if (typeof d.by === "string") parts.push(`by ${d.by}`);
    if (typeof d.reason === "string") parts.push(d.reason);
    if (typeof d.error === "string") parts.push(d.error);
    return parts.length ? parts.join(" · ") : shortJson(e.data);
  }

  function renderAudit() {
    const entries = view.audit.slice().sort((a, b) => b.seq - a.seq);
    const rows = entries.map((e) =>
      h(
        "tr",
        { data: { seq: e.seq } },
        h("td", { class: "num" }, `#${e.seq}`),
        h("td", { class: "nowrap" }, when(e.ts)),
        h("td", {}, h("span", { class: `badge audit-${e.type}` }, e.type)),
        h("td", {}, e.dataset ?? "—"),
        h("td", { class: "key" }, e.key ? keyText(safeParse(e.key)) : "—"),
        h("td", { class: "detail" }, auditDetail(e)),
        h("td", { class: "mono small", title: e.hash }, String(e.hash ?? "").slice(0, 10)),
      ),
    );
    $("audit").replaceChildren(
      table(
        [
          { label: "seq", num: true },
          { label: "when" },
          { label: "event" },
          { label: "dataset" },
          { label: "key" },
          { label: "detail" },
          { label: "hash" },
        ],
        rows,
        "The audit log is empty.",
      ),
    );
    const v = view.verify;
    $("verify-result").replaceChildren(
      !v
        ? ""
        : v.error
          ? h("span", { class: "pill bad" }, `verify failed: ${v.error}`)
          : v.ok
            ? h(
                "span",
                { class: "pill ok", data: { verified: "ok" } },
                h("span", { class: "dot" }),
                `chain intact · ${v.count} entries`,
              )
            : h(
                "span",
                { class: "pill bad", data: { verified: "broken" } },
                h("span", { class: "dot" }),
                v.firstBad
                  ? `BROKEN at #${v.firstBad.seq}: ${v.firstBad.reason}`
                  : `BROKEN: ${v.problem ?? "unknown"}`,
              ),
    );
  }

  function safeParse(text) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }

  $("verify").addEventListener("click", async () => {
    const button = $("verify");
    button.disabled = true;
    button.textContent = "Verifying…";
    try {
      view.verify = await request("/api/audit/verify");
    } catch (err) {
      if (err instanceof AuthError) askToken("The service rejected the token. Enter it again.");
      else view.verify = { error: err.message };
    } finally {
      button.disabled = false;
      button.textContent = "Verify chain";
    }
    renderAudit();
  });

  $("reload").addEventListener("click", async () => {
    const button = $("reload");
    button.disabled = true;
    try {
      const r = await request("/api/reload", { method: "POST", body: "{}" });
      const changed = Object.entries(r.datasets).map(([name, fields]) => `${name} (${fields.join(", ")})`);
      $("reload-result").textContent =
        `Reloaded: ${changed.length ? changed.join(", ") : "nothing changed"}${r.tokens ? "; tokens" : ""}`;
      actions++;
      void refresh(true);
    } catch (err) {
      if (err instanceof AuthError) askToken("The service rejected the token. Enter it again.");
      else $("reload-result").textContent = `Refused: ${err.message}`;
    } finally {
      button.disabled = false;
    }
  });

  // ---------- wiring ----------

  $("refresh").addEventListener("click", () => void refresh());
  $("range").addEventListener("change", () => void refresh());
  $("chart-dataset").addEventListener("change", () => void refresh());
  $("divergence-class").addEventListener("change", () => void refresh());
  for (const [id, name] of [
    ["esc-dataset", "dataset"],
    ["esc-class", "class"],
    ["esc-column", "column"],
    ["esc-replica", "replica"],
  ])
    $(id).addEventListener("change", () => setEscFilter({ [name]: $(id).value }));
  for (const [id, mode] of [
    ["esc-view-list", "list"],
    ["esc-view-groups", "groups"],
  ])
    $(id).addEventListener("click", () => {
      view.esc.mode = mode;
      renderEscalations();
    });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && $("auto-refresh").checked) void refresh();
  });
  setInterval(() => {
    if (!document.hidden && $("auto-refresh").checked && !dialog.open && !confirmDialog.open) void refresh();
  }, REFRESH_MS);
  // Relative times ("12 s ago") stay current between refreshes.
  setInterval(() => {
    if (!view.updatedAt) return;
    for (const t of document.querySelectorAll("time[datetime]")) {
      const ms = Date.parse(t.getAttribute("datetime"));
      if (!Number.isNaN(ms)) t.textContent = ago(ms);
    }
  }, 1000);

  if (token) {
    $("main").hidden = false;
    void refresh();
  } else {
    askToken();
  }
})();

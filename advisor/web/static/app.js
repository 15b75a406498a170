// The questionnaire page: every change re-scores the answers through the JSON API and redraws the verdict.
// Everything shown is built with DOM nodes and text, never HTML strings, so nothing anyone wrote is markup.
"use strict";

(() => {
  const form = document.getElementById("questionnaire");
  const status = document.getElementById("verdict-status");
  const body = document.getElementById("verdict-body");
  const mini = document.getElementById("verdict-mini");
  const errorBox = document.getElementById("error");
  const loaded = document.getElementById("loaded");
  const project = document.getElementById("project");
  const fileInput = document.getElementById("load");
  const questionIds = [...form.querySelectorAll("fieldset[data-question]")].map((f) => f.dataset.question);
  const state = { meta: null, costs: null, source: null, sent: 0, shown: 0 };

  const signed = (x) => (x > 0 ? "+" : x < 0 ? "−" : "±") + Math.abs(x).toFixed(2);
  const score = (x) => x.toFixed(2); // confidence is a heuristic from 0 to 1, not a probability: never a percentage
  const outcome = (id) => state.meta?.outcomes.find((a) => a.id === id); // few-shot prompting first, or an approach
  const label = (id) => outcome(id)?.label || id;
  const question = (id) => state.meta?.questions.find((q) => q.id === id);
  const questionText = (id) => question(id)?.text || id;

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.textContent = "";
  }

  function currentDocument() {
    const answers = {};
    for (const id of questionIds) answers[id] = form.elements.namedItem(id).value || "unknown";
    const doc = { version: 1 };
    const name = project.value.trim();
    if (name) doc.project = name;
    doc.answers = answers;
    if (state.costs) doc.costs = state.costs;
    return doc;
  }

  async function post(path, text, contentType = "application/json") {
    const response = await fetch(path, { method: "POST", headers: { "content-type": contentType }, body: text });
    if (!response.ok) {
      let detail = `${response.status} ${response.statusText}`;
      try {
        detail = (await response.json()).detail || detail;
      } catch (_) { /* not JSON: keep the status line */ }
      throw new Error(detail);
    }
    return response;
  }

  async function update() {
    const number = ++state.sent;
    try {
      const response = await post("/api/recommend", JSON.stringify(currentDocument()));
      const data = await response.json();
      await metaReady;
      if (number < state.shown) return; // an answer to an older request arrived late
      state.shown = number;
      clearError();
      render(data);
      if (!performance.getEntriesByName("first-verdict").length) performance.mark("first-verdict");
    } catch (error) {
      showError(error.message);
    }
  }

  function section(title, className, ...children) {
    return el("section", { class: className || "" }, el("h3", {}, title), ...children);
  }

  function render(data) {
    const rec = data.recommendation;
    const first = data.start_with || rec; // "prompt": few-shot prompting first, rec being the best of the three
    const fallback = first !== rec ? ` (if it falls short: ${label(rec)})` : "";
    const capped = data.confidence_capped_by ? ` (capped: rule ${data.confidence_capped_by} alone decides it)` : "";
    status.textContent = `${label(first)}${fallback}, confidence ${score(data.confidence)}${capped}`;
    status.dataset.recommendation = rec;
    status.dataset.startWith = first;
    mini.textContent = `Verdict: ${label(first)} (${score(data.confidence)}) ↑`;
    mini.hidden = false;
    const info = outcome(first);
    const parts = [
      el("p", { class: "recommendation", id: "recommendation", "data-value": rec, "data-start-with": first }, label(first)),
      info?.summary ? el("p", {}, info.summary) : null,
      first !== rec ? el("p", { id: "fallback" }, "If it falls short, the best of the three approaches: ",
        el("strong", {}, label(rec)), ".") : null,
      scores(data),
      askNext(data),
      flips(data),
      promptFirst(data),
      factors(data),
      rules(data),
      notes(data),
      robustness(data),
      costs(data),
      nextSteps(data),
    ];
    body.replaceChildren(...parts.filter(Boolean));
  }

  function scores(data) {
    const grid = el("div", { class: "scores", id: "scores" });
    for (const approach of ["rag", "fine-tuning", "hybrid"]) {
      const value = data.scores[approach];
      const best = approach === data.recommendation ? "best" : "";
      const id = `score-${approach}`;
      grid.append(
        el("span", { class: best, id: `${id}-label`, title: label(approach) }, approach),
        el("meter", { min: "0", max: "1", value: String(value), "aria-labelledby": `${id}-label`, "data-approach": approach }),
        el("span", { class: `num ${best}` }, value.toFixed(2)),
      );
    }
    return section(`Scores (confidence ${score(data.confidence)} of 1)`, "", grid);
  }

  function askNext(data) {
    const unknowns = data.unknowns;
    if (!unknowns) return null;
    const next = data.ask_next; // the one rule's answer; unknowns.ask_next[0] is the same question, with its reason
    const reason = unknowns.ask_next?.find((r) => r.question === next)?.reason;
    const items = [];
    items.push(el("p", {}, unknowns.decided
      ? "The unknown answers cannot change the verdict, whatever they turn out to be."
      : `The unknown answers could still change the verdict (to ${label(unknowns.could_become)}).`));
    if (next) {
      items.push(el("p", { id: "ask-next", "data-question": next },
        "Answer next: ", el("a", { href: `#q-${next}` }, questionText(next)), reason ? ` (${reason}).` : "."));
    }
    return section("Most informative question to answer next", "ask-next", ...items);
  }

  function flips(data) {
    if (!data.flips.length) {
      return section("What would change it", "flips", el("p", { id: "no-flips" }, "No single changed answer would change this recommendation."));
    }
    const list = el("ul", { id: "flips" });
    const groups = [];
    for (const flip of data.flips) { // one line per question and verdict: "unknown → monthly, weekly gives hybrid"
      const last = groups[groups.length - 1];
      if (last && last.question === flip.question && last.recommendation === flip.recommendation) last.to.push(flip.to);
      else groups.push({ question: flip.question, from: flip.from, recommendation: flip.recommendation, to: [flip.to] });
    }
    for (const group of groups) {
      const values = group.to.flatMap((to, i) => [i ? ", " : "", el("strong", { "data-to": to }, to)]);
      list.append(el("li", { "data-question": group.question },
        el("a", { href: `#q-${group.question}` }, questionText(group.question)), `: ${group.from} → `, ...values,
        ` gives ${label(group.recommendation)}`));
    }
    return section("What single answer would change it", "flips", list);
  }

  function promptFirst(data) {
    const advice = data.prompt_first;
    if (!advice || !advice.applies) return null;
    return section(label("prompt"), "prompt-first", el("p", { id: "prompt-first" }, advice.message),
      el("p", { class: "muted" }, advice.source)); // its steps are the verdict's next steps
  }

  function factors(data) {
    const rows = [...data.factors].sort((a, b) => Math.abs(b[data.recommendation]) - Math.abs(a[data.recommendation]));
    const table = el("table", { id: "factors" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "factor (answer)"),
        ...["rag", "fine-tuning", "hybrid"].map((a) => el("th", { scope: "col", class: "num" }, a)))),
      el("tbody", {}, rows.map((f) => el("tr", { "data-factor": f.id },
        el("td", {}, el("strong", {}, f.label || f.id), " ",
          el("span", { class: "muted" }, Object.entries(f.answers || {}).map(([q, v]) => `${q} = ${v}`).join(", ")),
          f.because ? el("div", { class: "muted" }, f.because) : null),
        ...["rag", "fine-tuning", "hybrid"].map((a) => el("td", { class: `num ${f[a] > 0 ? "pos" : f[a] < 0 ? "neg" : ""}` }, signed(f[a])))))));
    return section("Why: each factor's pull", "", el("div", { class: "table-wrap" }, table));
  }

  function rules(data) {
    if (!data.rules.length) return null;
    return section("Combination rules that fired", "rules", el("ul", { id: "rules" }, data.rules.map((r) => {
      const effect = ["rag", "fine-tuning", "hybrid"].filter((a) => r[a]).map((a) => `${a} ${signed(r[a])}`).join(", ");
      return el("li", { "data-rule": r.id }, el("code", {}, r.id), `: ${r.because}`, effect ? ` (${effect})` : "");
    })));
  }

  function notes(data) {
    if (!data.notes.length) return null;
    return section("Notes", "", data.notes.map((n) => el("p", {}, n)));
  }

  function robustness(data) {
    const summary = data.sensitivity?.summary;
    return summary ? section("Robustness to the weights", "", el("p", { id: "robustness" }, summary)) : null;
  }

  function costs(data) {
    const c = data.costs;
    if (!c) return null;
    const table = el("table", { id: "costs" },
      el("thead", {}, el("tr", {}, ["approach", "tokens/query", `inference/month (${c.currency})`,
        `fixed/month (${c.currency})`, `total/month (${c.currency})`].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, c.rows.map((r) => el("tr", {}, el("td", {}, r.approach),
        ...[r.tokens_per_query, r.inference_per_month, r.fixed_per_month, r.total_per_month].map((x, i) =>
          el("td", { class: "num" }, Number(x).toLocaleString("en", { maximumFractionDigits: i ? 2 : 0, minimumFractionDigits: i ? 2 : 0 })))))));
    return section("Estimated cost a month", "", el("div", { class: "table-wrap" }, table),
      c.guessed?.length ? el("p", { class: "muted", id: "costs-guessed" }, `Figures rest on guessed defaults: ${c.guessed.join(", ")}.`) : null,
      el("p", { id: "break-even" }, c.break_even.text),
      el("details", {}, el("summary", {}, "Assumptions"), el("ul", {}, c.assumptions.map((a) => el("li", {}, a)))));
  }

  function nextSteps(data) {
    if (!data.next_steps.length) return null;
    return section("Next steps", "", el("ol", {}, data.next_steps.map((s) => el("li", {}, s))));
  }

  function setAnswers(doc) {
    for (const id of questionIds) {
      const value = doc.answers?.[id] ?? question(id)?.default ?? "unknown";
      form.elements.namedItem(id).value = value;
    }
    project.value = doc.project || "";
    state.costs = doc.costs || null;
  }

  async function loadFile() {
    const file = fileInput.files[0];
    if (!file) return;
    fileInput.value = "";
    try {
      if (file.size > 1024 * 1024) throw new Error(`${file.name}: larger than 1 MB; an answers file is a few hundred bytes`);
      const json = /\.json$/i.test(file.name);
      const response = await post("/api/answers?format=json", await file.text(), json ? "application/json" : "application/yaml");
      setAnswers(await response.json());
      state.source = file.name;
      loaded.textContent = `Loaded ${file.name}${state.costs ? " (with its cost assumptions)" : ""}.`;
      loaded.hidden = false;
      await update();
    } catch (error) {
      showError(error.message.replace(/^request body/, file.name));
    }
  }

  async function download(path, filename, then) {
    try {
      const response = await post(path, JSON.stringify(currentDocument()));
      const url = URL.createObjectURL(await response.blob());
      const link = el("a", { href: url, download: filename, hidden: "" });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      clearError();
      if (then) then();
    } catch (error) {
      showError(error.message);
    }
  }

  function reportPath(format) {
    const source = state.source ? `&answers_file=${encodeURIComponent(state.source)}` : "";
    return `/api/report?format=${format}${source}`;
  }

  form.addEventListener("change", (event) => {
    if (event.target.type === "radio") update();
  });
  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("reset", () => {
    state.costs = null;
    state.source = null;
    loaded.hidden = true;
    setTimeout(update, 0); // the browser resets the controls after this event
  });
  fileInput.addEventListener("change", loadFile);
  document.getElementById("download-answers").addEventListener("click", () => download("/api/answers?format=yaml",
    "answers.yaml", () => { state.source = "answers.yaml"; })); // reports now name the file, as `advisor report` would
  document.getElementById("download-html").addEventListener("click", () => download(reportPath("html"), "report.html"));
  document.getElementById("download-md").addEventListener("click", () => download(reportPath("md"), "report.md"));

  // The labels and the first verdict are fetched side by side; the verdict is drawn once both are in.
  const metaReady = fetch("/api/questions")
    .then((response) => response.json())
    .then((meta) => { state.meta = meta; })
    .catch((error) => showError(`cannot read the questions: ${error.message}`));
  update();
})();

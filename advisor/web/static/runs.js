// The runs pages: follow runs in progress by polling the JSON API (stage, share done, time left).
"use strict";

(() => {
  const POLL_MS = 1000;
  const IDLE_POLL_MS = 5000;

  function duration(seconds) {
    return seconds >= 90 ? `${Math.round(seconds / 60)} min` : `${Math.round(seconds)} s`;
  }

  function progressText(p) {
    if (!p) return "";
    const left = p.seconds_left !== null && p.seconds_left !== undefined ? `, about ${duration(p.seconds_left)} left` : "";
    return `stage ${p.stage_number} of ${p.stages}: ${p.stage}${left}`;
  }

  function detailText(run) {
    if (run.status === "running") return progressText(run.progress);
    if (run.status === "corrupt") return run.error;
    if (run.status === "stopped") {
      return `stopped during ${run.progress ? run.progress.stage : "a stage"}; re-run it to finish (finished stages are reused)`;
    }
    return run.verdict;
  }

  function armModel(a) {
    const tokens = a.tokens ? `, ${a.tokens} tokens` : "";
    const cost = a.cost ? `, ${a.cost}` : "";
    return el("div", { class: "arm-model", "data-arm": a.arm }, `${a.arm}: `, el("code", {}, a.model),
      ` (${a.where})${tokens}${cost}`);
  }

  function answeredBy(run) {
    const parts = (run.arms || []).map(armModel);
    if (run.model_warning) parts.push(el("div", { class: "warning" }, "not all arms answered with the same base model"));
    return el("td", { class: "answered" }, ...parts);
  }

  function row(run) {
    const agreement = run.agreement ? ` (${run.agreement.replace("_", " ")})` : "";
    const inconclusive = run.status === "done" && run.best_measured ? "none: inconclusive" : "–";
    return el("tr", { "data-run": run.name, "data-status": run.status },
      el("td", {}, el("a", { href: `/runs/${encodeURIComponent(run.name)}` }, run.name)),
      el("td", { class: `status-${run.status}` }, run.status),
      el("td", {}, run.start_with === "prompt" ? `prompt, then ${run.recommended}` : run.recommended || "–"),
      el("td", {}, run.best_measured || "–"),
      el("td", {}, (run.favoured || inconclusive) + agreement),
      el("td", { class: "detail" }, detailText(run)),
      answeredBy(run));
  }

  async function pollList(table) {
    let running = true;
    try {
      const response = await fetch("/api/runs");
      if (response.ok) {
        const runs = await response.json();
        const body = table.tBodies[0];
        if (runs.length) body.replaceChildren(...runs.map(row));
        running = runs.some((run) => run.status === "running");
      }
    } finally {
      setTimeout(() => pollList(table), running ? POLL_MS : IDLE_POLL_MS); // new runs still show up when idle
    }
  }

  async function pollRun(box) {
    const name = box.dataset.run;
    let again = true;
    try {
      const response = await fetch(`/api/runs/${encodeURIComponent(name)}`);
      if (response.ok) {
        const run = await response.json();
        box.dataset.status = run.status;
        if (run.status === "done") {
          again = false;
          window.location.reload(); // the server now answers with the run's report
          return;
        }
        const text = document.getElementById("run-status");
        if (run.status === "running") text.textContent = `Running: ${progressText(run.progress)}.`;
        else if (run.status === "stopped") text.textContent = `Stopped: ${detailText(run)}.`;
        if (run.progress && run.progress.fraction_done !== null) {
          document.getElementById("run-progress").value = run.progress.fraction_done;
        }
      } else if (response.status === 422) {
        again = false;
        window.location.reload(); // a corrupt result: the server explains it
      }
    } finally {
      if (again) setTimeout(() => pollRun(box), POLL_MS);
    }
  }

  const table = document.getElementById("runs");
  if (table) setTimeout(() => pollList(table), POLL_MS);
  const box = document.getElementById("run");
  if (box) setTimeout(() => pollRun(box), POLL_MS);
})();

// The review page: one drafted pair at a time beside its passage, the answer marked; accept, edit or reject
// by mouse or keyboard. Every decision is POSTed and saved by the server before the page moves on.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  let pairs = [];
  let counts = {};
  let current = 0;
  let editing = false;

  function reviewed() {
    return counts.accepted + counts.edited + counts.rejected;
  }

  function showProgress() {
    const total = pairs.length;
    $("progress").textContent = `${reviewed()} of ${total} reviewed: ${counts.accepted} accepted, ` +
      `${counts.edited} edited, ${counts.rejected} rejected, ${counts.unreviewed} to go`;
    $("bar").max = Math.max(1, total);
    $("bar").value = reviewed();
  }

  function passageNodes(p) {
    if (!p.highlight) return [p.passage];
    const [start, end] = p.highlight;
    return [p.passage.slice(0, start), el("mark", {}, p.passage.slice(start, end)), p.passage.slice(end)];
  }

  function show() {
    const p = pairs[current];
    $("pair").hidden = false;
    $("position").textContent = `${current + 1} of ${pairs.length}`;
    $("source").textContent = `${p.source}, characters ${p.span[0]}–${p.span[1]}`;
    $("state").textContent = p.review;
    $("state").dataset.state = p.review;
    $("passage").replaceChildren(...passageNodes(p));
    $("question").value = p.question;
    $("answer").value = p.answer;
    $("message").textContent = "";
    setEditing(false);
    showProgress();
  }

  function setEditing(on) {
    editing = on;
    $("question").readOnly = !on;
    $("answer").readOnly = !on;
    $("save").hidden = !on;
    $("cancel").hidden = !on;
    for (const id of ["accept", "edit", "reject", "prev", "next"]) $(id).hidden = on;
    if (on) $("question").focus();
  }

  function nextUnreviewed(from) {
    for (let step = 1; step <= pairs.length; step++) {
      const i = (from + step) % pairs.length;
      if (pairs[i].review === "unreviewed") return i;
    }
    return Math.min(from + 1, pairs.length - 1);
  }

  function take(data) {
    pairs = data.pairs;
    counts = data.counts;
  }

  async function decide(decision) {
    const body = { decision };
    if (decision === "edit") {
      body.question = $("question").value;
      body.answer = $("answer").value;
    }
    const response = await fetch(`/api/review/${current}`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    });
    const data = await response.json();
    if (!response.ok) {
      $("message").textContent = data.detail;
      return;
    }
    take(data);
    if (decision !== "undo") current = nextUnreviewed(current);
    show();
  }

  function move(step) {
    current = Math.min(pairs.length - 1, Math.max(0, current + step));
    show();
  }

  async function load() {
    const response = await fetch("/api/review");
    const data = await response.json();
    if (!response.ok) {
      $("progress").textContent = data.detail;
      return;
    }
    take(data);
    const first = pairs.findIndex((p) => p.review === "unreviewed");
    current = first >= 0 ? first : 0;
    show();
  }

  $("accept").addEventListener("click", () => decide("accept"));
  $("reject").addEventListener("click", () => decide("reject"));
  $("edit").addEventListener("click", () => setEditing(true));
  $("cancel").addEventListener("click", () => show());
  $("prev").addEventListener("click", () => move(-1));
  $("next").addEventListener("click", () => move(1));
  $("edit-form").addEventListener("submit", (event) => {
    event.preventDefault();
    decide("edit");
  });
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || !pairs.length) return;
    if (editing) {
      if (event.key === "Escape") { event.preventDefault(); show(); }
      else if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); decide("edit"); }
      return;
    }
    const actions = {
      a: () => decide("accept"), r: () => decide("reject"), e: () => setEditing(true), u: () => decide("undo"),
      j: () => move(1), ArrowRight: () => move(1), k: () => move(-1), ArrowLeft: () => move(-1),
    };
    const action = actions[event.key];
    if (action && !(event.target instanceof HTMLButtonElement && event.key === "Enter")) {
      event.preventDefault();
      action();
    }
  });
  load();
})();

// Reader page: fetch the state, show the next image, send each answer at once.
"use strict";
(function () {
  const token = location.pathname.split("/").filter(Boolean).pop();
  const api = "/api/r/" + encodeURIComponent(token);
  const $ = (id) => document.getElementById(id);
  let state = null, answer = null, confidence = null, sending = false;

  function showError(text) { $("error").textContent = text || ""; }

  function render() {
    $("who").textContent = "Reader: " + state.reader;
    $("count").textContent = state.done + " of " + state.total + " answered";
    $("bar").style.width = (100 * state.done / state.total) + "%";
    if (!state.next) { $("task").hidden = true; $("finished").hidden = false; return; }
    $("finished").hidden = true; $("task").hidden = false;
    const pair = state.mode === "2afc";
    $("title").textContent = pair ? "Which image is synthetic?" : "Real or synthetic?";
    ["single", "single-choice", "single-keys"].forEach((id) => { $(id).hidden = pair; });
    ["pair", "pair-choice", "pair-keys"].forEach((id) => { $(id).hidden = !pair; });
    const trial = state.next;
    const shown = pair ? { left: "/pair/" + trial.image_id + "/left",
                           right: "/pair/" + trial.image_id + "/right" }
                       : { image: "/image/" + trial.image_id };
    Object.entries(shown).forEach(([id, path]) => {
      const img = $(id);
      img.width = trial.width; img.height = trial.height;  // native resolution
      img.src = api + path;
    });
    answer = null; confidence = null; $("comment").value = "";
    refreshButtons();
  }

  function refreshButtons() {
    document.querySelectorAll(".choice").forEach((b) =>
      b.classList.toggle("selected", b.dataset.answer === answer));
    document.querySelectorAll(".level").forEach((b) =>
      b.classList.toggle("selected", Number(b.dataset.confidence) === confidence));
    $("submit").disabled = !(answer && confidence) || sending;
  }

  async function load() {
    const response = await fetch(api + "/state", { cache: "no-store" });
    if (!response.ok) { showError("This link is not valid. Ask the study organiser for yours."); return; }
    state = await response.json();
    render();
  }

  async function submit() {
    if (!state || !state.next || !answer || !confidence || sending) return;
    sending = true; refreshButtons();
    const body = { image_id: state.next.image_id, answer: answer, confidence: confidence,
                   comment: $("comment").value };
    try {
      const response = await fetch(api + "/answer", {
        method: "POST", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json", "X-CSRF-Token": state.csrf } });
      if (!response.ok) {
        const detail = await response.json().catch(() => ({}));
        showError("Not saved: " + (detail.error || response.status) + ". Reloading.");
      } else { showError(""); }
    } catch (err) {
      showError("Not saved (connection lost?). Your earlier answers are safe; retrying.");
    }
    sending = false;
    await load();
  }

  document.addEventListener("click", (event) => {
    const target = event.target.closest("button");
    if (!target) return;
    if (target.dataset.answer) { answer = target.dataset.answer; refreshButtons(); }
    if (target.dataset.confidence) { confidence = Number(target.dataset.confidence); refreshButtons(); }
    if (target.id === "submit") submit();
  });

  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "TEXTAREA" || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.toLowerCase();
    const pair = state && state.mode === "2afc";
    if (!pair && key === "r") answer = "real";
    else if (!pair && key === "s") answer = "synthetic";
    else if (pair && key === "arrowleft") answer = "left";
    else if (pair && key === "arrowright") answer = "right";
    else if (["1", "2", "3", "4", "5"].includes(key)) confidence = Number(key);
    else if (key === "enter") { event.preventDefault(); submit(); return; }
    else return;
    refreshButtons();
  });

  load();
})();

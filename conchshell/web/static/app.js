// ConchShell web app: drag-and-drop and a client-side size check on the upload form, a progress line while a
// piece generates, and the listening trial's play tracking (the rating opens once enough has been heard).
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload");
  if (form) upload(form);
  const rating = document.getElementById("rating-form");
  if (rating) listen(rating);
});

function upload(form) {
  const zone = document.getElementById("dropzone");
  const input = document.getElementById("picture");
  const sizeError = document.getElementById("size-error");
  const limit = Number(form.dataset.limit);
  const tooBig = () => {
    const file = input.files[0];
    const big = file && file.size > limit;
    sizeError.hidden = !big;
    sizeError.textContent = big
      ? `${file.name}: ${(file.size / 1048576).toFixed(1)} MB is larger than the ${(limit / 1048576).toFixed(0)} MB limit; scale it down first`
      : "";
    return big;
  };
  input.addEventListener("change", tooBig);
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files.length) { input.files = e.dataTransfer.files; form.requestSubmit(); }
  });
  form.addEventListener("submit", (e) => {
    const example = e.submitter && e.submitter.name === "example";
    if (!example && tooBig()) { e.preventDefault(); return; }
    if (example) input.value = "";
    document.getElementById("submit").disabled = true;
    const text = document.getElementById("progress-text");
    text.textContent = "Generating an 8 s piece…";
    // The server runs one generation at a time; show how many wait before this one.
    const poll = () => fetch("/status").then((r) => r.json()).then((s) => {
      text.textContent = s.state === "loading" ? "Loading the models…"
        : s.waiting > 1 ? `Queued: ${s.waiting} pictures in line, generating…` : "Generating an 8 s piece…";
    }).catch(() => {});
    setInterval(poll, 1000);
  });
}

function listen(form) {
  const audio = document.getElementById("trial-audio");
  const played = document.getElementById("played");
  const heard = document.getElementById("heard");
  const button = document.getElementById("rate");
  const need = Number(form.dataset.minPlayed);
  let announced = false;
  const update = () => {
    let seconds = 0;
    for (let i = 0; i < audio.played.length; i++) seconds += audio.played.end(i) - audio.played.start(i);
    played.value = seconds.toFixed(3);
    const total = audio.duration || 0;
    const ready = total > 0 && seconds >= need * total;
    button.disabled = !ready;
    if (ready && !announced) { heard.textContent = "Heard. You can rate it now."; announced = true; }
    else if (!ready) heard.textContent = `Heard ${seconds.toFixed(1)} of ${total.toFixed(1)} s; the rating opens at ${(need * 100).toFixed(0)}%.`;
  };
  ["timeupdate", "ended", "pause"].forEach((name) => audio.addEventListener(name, update));
}

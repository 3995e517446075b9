// ConchShell web app: drag-and-drop onto the upload zone, and a progress indicator while a piece generates.
document.addEventListener("DOMContentLoaded", () => {
  const zone = document.getElementById("dropzone");
  const input = document.getElementById("picture");
  const form = document.getElementById("upload");
  if (zone && input) {
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      if (e.dataTransfer.files.length) { input.files = e.dataTransfer.files; form.requestSubmit(); }
    });
  }
  if (form) {
    form.addEventListener("submit", () => {
      document.getElementById("progress").hidden = false;
      document.getElementById("submit").disabled = true;
      const text = document.getElementById("progress-text");
      // The server runs one generation at a time; show how many wait before this one.
      const poll = () => fetch("/status").then((r) => r.json()).then((s) => {
        text.textContent = s.state === "loading" ? "Loading the models…"
          : s.waiting > 1 ? `Queued: ${s.waiting} pictures in line, generating…` : "Generating an 8 s piece…";
      }).catch(() => {});
      setInterval(poll, 1000);
    });
  }
});

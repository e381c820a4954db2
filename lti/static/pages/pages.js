// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  function pollSync(box) {
    var url = box.getAttribute("data-progress-url");
    var bar = document.getElementById("sync-bar");
    if (!url) { return; }
    function tick() {
      fetch(url, { credentials: "include", headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (p) {
          if (p.status === "done") {
            box.textContent = box.getAttribute("data-label-done");
            if (bar) { bar.value = bar.max; }
            return;
          }
          if (p.status === "failed") {
            box.textContent = box.getAttribute("data-label-failed") + " " + (p.error || "");
            return;
          }
          if (p.total) {
            box.textContent = box.getAttribute("data-label-progress") + " " + (p.stage || "") + " " + p.done + " / " + p.total;
            if (bar) { bar.hidden = false; bar.max = p.total; bar.value = p.done; }
          } else {
            box.textContent = box.getAttribute("data-label-waiting");
          }
          window.setTimeout(tick, 1000);
        })
        .catch(function () { window.setTimeout(tick, 3000); });
    }
    tick();
  }
  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
    var box = document.getElementById("sync-progress");
    if (box) { pollSync(box); }
    var revoke = document.querySelector("button[value=revoke]");
    if (revoke) {
      revoke.addEventListener("click", function (event) {
        var reason = document.getElementById("reason");
        if (reason && !reason.value.trim()) { event.preventDefault(); reason.focus(); reason.setAttribute("aria-invalid", "true"); }
      });
    }
  });
})();

// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // Inside an LMS iframe, tell the platform how tall the page is so that it can size the frame to
  // fit (the lti.frameResize message Canvas, Sakai and Brightspace read, and Moodle with the snippet
  // in deploy/moodle/additional-html-frame-resize.html; sent as a JSON string, which all of them
  // parse). Sent on load and whenever the page's height changes (details opened, progress shown,
  // window resized). The body's height, not the document's: the document is at least as tall as the
  // frame, so a page that shrinks inside a frame grown for it would never say so.
  function reportHeight() {
    if (window.parent === window) { return; }
    var last = 0;
    function send() {
      var body = document.body;
      var height = Math.ceil(Math.max(body.scrollHeight, body.getBoundingClientRect().height));
      if (height === last) { return; }
      last = height;
      window.parent.postMessage(JSON.stringify({ subject: "lti.frameResize", height: height }), "*");
    }
    send();
    if (window.ResizeObserver) {
      new window.ResizeObserver(send).observe(document.body);
    }
    window.addEventListener("resize", send);
    window.addEventListener("load", send);
  }

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
            // the new results, without the sync's id in the address (a reload must not poll again)
            window.setTimeout(function () {
              var next = new URL(window.location.href);
              next.searchParams.delete("work");
              window.location.replace(next.toString());
            }, 600);
            return;
          }
          if (p.status === "failed") {
            box.textContent = box.getAttribute("data-label-failed") + " " + (p.error || "");
            return;
          }
          if (p.status === "evaluating") {
            box.textContent = box.getAttribute("data-label-evaluating");
          } else if (p.total) {
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

  function selection(form) {
    var boxes = form.querySelectorAll("input[name=award_id][type=checkbox]");
    var count = document.getElementById("selected-count");
    var all = document.getElementById("select-pending");
    function update() {
      var n = form.querySelectorAll("input[name=award_id][type=checkbox]:checked").length;
      if (count) { count.textContent = count.getAttribute("data-label-template").replace("{n}", String(n)); }
    }
    Array.prototype.forEach.call(boxes, function (box) { box.addEventListener("change", update); });
    if (all) {
      all.addEventListener("change", function () {
        var state = all.getAttribute("data-select-state");
        Array.prototype.forEach.call(boxes, function (box) {
          if (box.getAttribute("data-state") === state) { box.checked = all.checked; }
        });
        update();
      });
    }
    update();
  }

  function copyLinks() {
    Array.prototype.forEach.call(document.querySelectorAll("button.copy-link"), function (button) {
      button.addEventListener("click", function () {
        var field = document.getElementById(button.getAttribute("data-copy"));
        var status = button.parentNode.querySelector(".copy-status");
        function done() { if (status) { status.textContent = button.getAttribute("data-label-copied"); } }
        if (!field) { return; }
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(field.value).then(done, function () {
            field.select(); document.execCommand("copy"); done();
          });
        } else {
          field.select(); document.execCommand("copy"); done();
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
    var box = document.getElementById("sync-progress");
    if (box) { pollSync(box); }
    var form = document.getElementById("decide-form");
    if (form) { selection(form); }
    copyLinks();
    reportHeight();
  });
})();

// Progressive enhancement only: every action also works as a plain form post without this file.
(function () {
  "use strict";

  function csrf(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // Reveal the signing secret in place, without a page load.
  document.querySelectorAll("form[data-reveal]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      fetch(form.action, {
        method: "POST",
        headers: { "X-CSRFToken": csrf(form), Accept: "application/json" },
        credentials: "same-origin",
      })
        .then(function (r) {
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(function (data) {
          var box = document.querySelector(form.dataset.reveal);
          box.textContent = data.secret;
          box.dataset.revealed = "true";
          form.hidden = true;
          document.querySelectorAll("[data-copy-target='" + form.dataset.reveal + "']")
            .forEach(function (b) { b.hidden = false; });
        })
        .catch(function () { form.submit(); });
    });
  });

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Plain-http deployments have no Clipboard API; a selected textarea still copies.
    var area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
    return Promise.resolve();
  }

  document.querySelectorAll("[data-copy-target]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.querySelector(button.dataset.copyTarget);
      copyText(source.textContent.trim()).then(function () {
        var label = button.textContent;
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = label; }, 1500);
      });
    });
  });

  // Job progress: poll the job's JSON until it finishes.
  document.querySelectorAll(".job[data-job-url]").forEach(function (box) {
    var bar = box.querySelector(".bar > div");
    var text = box.querySelector("[data-job-text]");
    var badge = box.querySelector("[data-job-status]");
    var started = Date.now();
    function tick() {
      fetch(box.dataset.jobUrl, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.json(); })
        .then(function (job) {
          bar.style.width = Math.round(job.progress * 100) + "%";
          var o = job.outcomes || {};
          var parts = [];
          if (o.delivered) parts.push(o.delivered + " delivered");
          if (o.still_failing) parts.push(o.still_failing + " still failing");
          if (o.in_progress) parts.push(o.in_progress + " in progress");
          if (o.cancelled) parts.push(o.cancelled + " cancelled");
          if (o.skipped) parts.push(o.skipped + " skipped");
          text.textContent = job.done + " of " + job.total + " looked at" +
            (parts.length ? ": " + parts.join(", ") : "") +
            (job.error ? " — " + job.error : "");
          box.dataset.outcomes = parts.join(", ");
          badge.textContent = job.status;
          badge.className = "badge " + job.status;
          box.className = "job " + job.status;
          box.dataset.status = job.status;
          var moving = job.status !== "succeeded" && job.status !== "failed";
          if (moving) setTimeout(tick, 700);
          else if (o.in_progress && Date.now() - started < 120000) setTimeout(tick, 2000);
        })
        .catch(function () { setTimeout(tick, 2000); });
    }
    tick();
  });

  // Live log: re-fetch a fragment while something in it is still moving (or for a while
  // after a test event was sent, before its delivery row exists).
  document.querySelectorAll("[data-refresh-url]").forEach(function (box) {
    var until = Date.now() + 1000 * Number(box.dataset.refreshFor || 0);
    function tick() {
      var active = box.querySelector("[data-active]") !== null;
      if (!active && Date.now() > until) return;
      fetch(box.dataset.refreshUrl, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.text(); })
        .then(function (html) { box.innerHTML = html; setTimeout(tick, 1000); })
        .catch(function () { setTimeout(tick, 3000); });
    }
    setTimeout(tick, 1000);
  });

  document.querySelectorAll("input[data-select-all]").forEach(function (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll(all.dataset.selectAll).forEach(function (box) {
        box.checked = all.checked;
      });
    });
  });
})();

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

  // Every code block (a snippet, the bytes sent, a response) gets a Copy button that copies it
  // exactly as shown: the signed bytes must reach a verifier unchanged.
  document.querySelectorAll("main pre").forEach(function (pre, i) {
    if (pre.hasAttribute("data-no-copy")) return;
    if (!pre.id) pre.id = "code-" + (i + 1);
    var bar = document.createElement("div");
    bar.className = "copy-bar";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "btn small";
    button.textContent = "Copy";
    button.dataset.copyTarget = "#" + pre.id;
    button.dataset.copyExact = "";
    if (pre.getAttribute("aria-label")) button.setAttribute("aria-label", "Copy " + pre.getAttribute("aria-label"));
    bar.appendChild(button);
    pre.parentNode.insertBefore(bar, pre);
  });

  document.querySelectorAll("[data-copy-target]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.querySelector(button.dataset.copyTarget);
      var text = source.textContent;
      copyText(button.hasAttribute("data-copy-exact") ? text : text.trim()).then(function () {
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
          // "state" is the status as people read it: a job that has looked at everything but
          // whose replays are still going out says "sending", not "succeeded".
          var state = job.state || job.status;
          badge.textContent = state;
          badge.className = "badge " + state;
          box.className = "job " + state;
          box.dataset.status = job.status;
          box.dataset.state = state;
          var moving = job.status !== "succeeded" && job.status !== "failed";
          if (moving) setTimeout(tick, 700);
          else if (o.in_progress && Date.now() - started < 120000) setTimeout(tick, 2000);
        })
        .catch(function () { setTimeout(tick, 2000); });
    }
    tick();
  });

  // On a phone a table is a card a row: each cell is labelled with its column's name.
  function labelTables() {
    document.querySelectorAll("main table:not(.stack)").forEach(function (table) {
      var heads = table.tHead ? table.tHead.rows[0].cells : [];
      if (!heads.length) return;
      Array.prototype.forEach.call(table.tBodies, function (body) {
        Array.prototype.forEach.call(body.rows, function (row) {
          Array.prototype.forEach.call(row.cells, function (cell, i) {
            if (!cell.hasAttribute("data-label") && heads[i] && cell.colSpan === 1) {
              cell.setAttribute("data-label", heads[i].textContent.trim());
            }
          });
        });
      });
      table.classList.add("stack");
    });
  }
  labelTables();

  // Live log: re-fetch a fragment while something in it is still moving (or for a while
  // after a test event was sent, before its delivery row exists).
  document.querySelectorAll("[data-refresh-url]").forEach(function (box) {
    var until = Date.now() + 1000 * Number(box.dataset.refreshFor || 0);
    function tick() {
      var active = box.querySelector("[data-active]") !== null;
      if (!active && Date.now() > until) return;
      fetch(box.dataset.refreshUrl, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          box.innerHTML = html;
          labelTables();
          // A fragment may carry the new state of something elsewhere on the page (the
          // delivery's status badge, the endpoint's circuit): <template data-sync="#id">.
          box.querySelectorAll("template[data-sync]").forEach(function (t) {
            var target = document.querySelector(t.dataset.sync);
            if (target) target.replaceWith(t.content.cloneNode(true));
            t.remove();
          });
          setTimeout(tick, 1000);
        })
        .catch(function () { setTimeout(tick, 3000); });
    }
    setTimeout(tick, 1000);
  });

  // The test event's payload box follows the chosen type's example, until it is edited.
  var payloadBox = document.querySelector("textarea[data-examples]");
  var typeSelect = document.getElementById("test-type");
  if (payloadBox && typeSelect) {
    var examples = JSON.parse(payloadBox.dataset.examples || "{}");
    typeSelect.addEventListener("change", function () {
      var untouched = Object.keys(examples).some(function (name) {
        return examples[name] === payloadBox.value;
      });
      if (untouched || !payloadBox.value.trim()) payloadBox.value = examples[typeSelect.value] || "";
    });
  }

  document.querySelectorAll("input[data-select-all]").forEach(function (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll(all.dataset.selectAll).forEach(function (box) {
        box.checked = all.checked;
      });
    });
  });

  // A select that submits its form when changed (the tenant switcher); without this file a
  // button does it. An inline onchange would be refused by the Content-Security-Policy.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // Times in the server's zone (as rendered) or the browser's own, by the person's choice.
  var TZ_KEY = "webhooks.times";
  function localText(t) {
    var d = new Date(t.getAttribute("datetime"));
    var options = { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
                    hour12: false, timeZoneName: "short" };
    if (t.dataset.when !== "short") options.second = "2-digit";
    if (d.getFullYear() !== new Date().getFullYear()) options.year = "numeric";
    return d.toLocaleString(undefined, options);
  }
  function applyTimes() {
    var mode = localStorage.getItem(TZ_KEY) === "local" ? "local" : "server";
    document.documentElement.dataset.times = mode;
    document.querySelectorAll("time[data-when]").forEach(function (t) {
      if (t.dataset.mode === mode) return;
      if (t.dataset.server === undefined) t.dataset.server = t.textContent;
      t.textContent = mode === "local" ? localText(t) : t.dataset.server;
      t.title = mode === "local" ? t.dataset.server : "";
      t.dataset.mode = mode;
    });
    var toggle = document.getElementById("tz-toggle");
    var label = toggle && "Times: " + (mode === "local" ? "local" : toggle.dataset.serverZone);
    // Only when it changes: every write is a mutation the observer below would see again.
    if (toggle && toggle.textContent !== label) toggle.textContent = label;
  }
  var toggle = document.getElementById("tz-toggle");
  if (toggle) {
    toggle.addEventListener("click", function () {
      var next = localStorage.getItem(TZ_KEY) === "local" ? "server" : "local";
      localStorage.setItem(TZ_KEY, next);
      applyTimes();
    });
  }
  applyTimes();
  // Live-refreshed fragments bring new <time> elements; each is rewritten once per mode.
  new MutationObserver(applyTimes).observe(document.body, { childList: true, subtree: true });
})();

// A portal link carries its key in the fragment (never sent to a server, so never logged):
// put it in the form, and drop it from the address bar and history.
(function () {
  "use strict";
  var form = document.querySelector("form[data-portal-link]");
  if (!form || !window.location.hash) return;
  var field = form.querySelector("input[name=token]");
  field.value = decodeURIComponent(window.location.hash.slice(1));
  history.replaceState(null, "", window.location.pathname + window.location.search);
  // Embedded in the product's page: go on without a click. What comes next is shown only if
  // the link's tenant lets that page frame its portal (frame-ancestors).
  if (window.self !== window.top && field.value) form.submit();
})();

// The confirmation of whose portal a link opens: a frame can show it only where the tenant
// allows (frame-ancestors), so there it enters at once.
(function () {
  "use strict";
  var form = document.querySelector("form[data-enter-when-framed]");
  if (form && window.self !== window.top) form.submit();
})();

// A form that came back with errors: the first field in error takes the focus (its error list is
// tied to it by aria-describedby, so a screen reader reads the message with the field).
(function () {
  "use strict";
  var first = document.querySelector("[aria-invalid='true']");
  if (!first) return;
  var target = first.matches("input, select, textarea") ? first : first.querySelector("input");
  if (target) target.focus();
})();

// Conveyor dashboard: live numbers and job states over SSE (/events), checkbox helpers and
// confirmations. No framework; the pages work without it (a reload shows the same).
(function () {
  "use strict";
  var root = document.body.dataset.root;
  if (root === undefined) return;

  function watchedIds() {
    var seen = {};
    document.querySelectorAll("[data-job]").forEach(function (el) { seen[el.dataset.job] = true; });
    return Object.keys(seen).slice(0, 200);
  }

  function countFor(data, key) {
    var parts = key.split(":");
    if (parts[0] === "total") return data.totals[parts[1]] || 0;
    if (parts[0] === "queue") {
      var state = parts.pop();
      var queue = parts.slice(1).join(":");
      return ((data.counts[queue] || {})[state]) || 0;
    }
    return null;
  }

  function apply(data) {
    document.querySelectorAll("[data-count]").forEach(function (el) {
      var value = countFor(data, el.dataset.count);
      if (value === null) return;
      var text = el.classList.contains("pill") && value === 0 ? "" : String(value);
      if (el.textContent !== text) el.textContent = text;
    });
    document.querySelectorAll("[data-job]").forEach(function (el) {
      var state = data.jobs[el.dataset.job];
      if (!state || el.textContent === state) return;
      el.className = "badge s-" + state;
      el.textContent = state;
    });
  }

  function connect() {
    var live = document.getElementById("live");
    var source = new EventSource(root + "/events?ids=" + watchedIds().join(","));
    source.addEventListener("update", function (event) {
      if (live) live.classList.add("on");
      apply(JSON.parse(event.data));
    });
    source.addEventListener("logout", function () {
      source.close();
      window.location.reload(); // the server sends the login form
    });
    source.onerror = function () { if (live) live.classList.remove("on"); };
  }

  document.querySelectorAll("input.select-all").forEach(function (box) {
    box.addEventListener("change", function () {
      box.closest("table").querySelectorAll("input[name=ids]").forEach(function (b) {
        b.checked = box.checked;
      });
    });
  });

  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-confirm]");
    if (target && target.tagName === "BUTTON" && !window.confirm(target.dataset.confirm)) {
      event.preventDefault();
    }
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  if (window.EventSource && document.getElementById("live")) connect();
})();

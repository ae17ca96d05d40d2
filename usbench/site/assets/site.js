// usbench static site: sorting, row filters and the column picker. The pages are complete
// without this file (every column shown, no filters); it only adds the controls.
(function () {
  "use strict";
  document.documentElement.classList.replace("no-js", "js");

  function cellValue(row, index, type) {
    var cell = row.children[index];
    var raw = cell ? cell.getAttribute("data-value") : null;
    if (type === "number") {
      var x = raw === null || raw === "" ? NaN : parseFloat(raw);
      return isNaN(x) ? null : x;
    }
    return raw === null ? (cell ? cell.textContent.trim() : null) : raw;
  }

  function sortTable(table, th) {
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var type = th.getAttribute("data-sort");
    var current = th.getAttribute("aria-sort");
    var first = th.getAttribute("data-hib") === "0" ? "ascending" : "descending";
    if (type === "text") first = "ascending";
    var next = current === first ? (first === "ascending" ? "descending" : "ascending") : first;
    th.parentNode.querySelectorAll("th[aria-sort]").forEach(function (h) {
      h.setAttribute("aria-sort", "none");
    });
    th.setAttribute("aria-sort", next);
    var sign = next === "ascending" ? 1 : -1;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index, type), y = cellValue(b, index, type);
      if (x === null && y === null) return 0;
      if (x === null) return 1;  // missing values always last
      if (y === null) return -1;
      if (type === "number") return sign * (x - y);
      return sign * String(x).localeCompare(String(y));
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th[data-sort] button.sort").forEach(function (button) {
      button.addEventListener("click", function () { sortTable(table, button.parentNode); });
    });
  });

  var controls = document.getElementById("controls");
  if (!controls) return;
  controls.hidden = false;

  function showColumn(label, on) {  // every board's column of that label
    document.querySelectorAll('[data-pick="' + CSS.escape(label) + '"]').forEach(function (c) {
      c.hidden = !on;
    });
  }
  controls.querySelectorAll("input[data-col-toggle]").forEach(function (box) {
    showColumn(box.getAttribute("data-col-toggle"), box.checked);
    box.addEventListener("change", function () {
      showColumn(box.getAttribute("data-col-toggle"), box.checked);
    });
  });

  function applyFilters() {
    var wanted = {};
    controls.querySelectorAll("select[data-filter]").forEach(function (s) {
      if (s.value) wanted[s.getAttribute("data-filter")] = s.value;
    });
    var kinds = {};
    controls.querySelectorAll("input[data-kind-toggle]").forEach(function (box) {
      kinds[box.getAttribute("data-kind-toggle")] = box.checked;
    });
    document.querySelectorAll("section.board").forEach(function (section) {
      var shown = 0;
      section.querySelectorAll("tbody tr").forEach(function (row) {
        var keep = kinds[row.getAttribute("data-kind")] !== false;
        Object.keys(wanted).forEach(function (name) {
          if (row.getAttribute("data-" + name) !== wanted[name]) keep = false;
        });
        row.hidden = !keep;
        if (keep) shown += 1;
      });
      section.hidden = shown === 0;
    });
  }
  controls.addEventListener("change", applyFilters);
  controls.addEventListener("submit", function (event) { event.preventDefault(); });
})();

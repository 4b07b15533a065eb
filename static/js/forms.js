// Forms with an error summary (templates/forms/_error_summary.html): after a refused submit the page opens on the
// summary (focused and scrolled to, so a reader and a screen reader meet the errors first), and a link in the
// summary moves the focus into the field it names.
(function () {
  "use strict";

  function focusField(id) {
    var target = document.getElementById(id);
    if (!target) { return false; }
    var control = /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName) ? target : target.querySelector("input, select, textarea");
    (target.closest(".field") || target).scrollIntoView({ block: "center" });
    if (control) { control.focus({ preventScroll: true }); }
    return true;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector("[data-error-summary]");
    if (summary) {
      summary.scrollIntoView({ block: "start" });
      summary.focus({ preventScroll: true });
    }
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-focus-field]");
    if (link && focusField(link.getAttribute("data-focus-field"))) { event.preventDefault(); }
  });
})();

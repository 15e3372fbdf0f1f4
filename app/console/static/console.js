// The console's only script besides the vendored ones. No inline scripts exist (the CSP
// forbids them), so behaviour is wired here with addEventListener.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Every htmx request carries the synchronizer token; forms also carry it as a field.
  document.addEventListener("htmx:configRequest", function (evt) {
    evt.detail.headers["X-CSRFToken"] = csrfToken();
  });

  // After a swap, move focus to what the reader must see: an error summary, else the
  // swapped status region.
  document.addEventListener("htmx:afterSwap", function (evt) {
    var target = evt.detail.target;
    var focus = target.querySelector(".error-summary, [data-focus-after-swap]");
    if (focus) {
      if (!focus.hasAttribute("tabindex")) focus.setAttribute("tabindex", "-1");
      focus.focus();
    }
  });

  // A page rendered with a refused form focuses its error summary.
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector(".error-summary");
    if (summary) summary.focus();
  });
})();

// The copy button beside a secret shown once (partners' keys). A static file, since the
// CSP allows no inline script; the clipboard API where the page may use it, else the
// selected text is copied the old way.
(function () {
  "use strict";

  function copy(button) {
    var input = document.getElementById(button.getAttribute("data-copy"));
    var status = document.querySelector("[data-copy-status]");
    function say(ok) {
      if (status) status.textContent = button.getAttribute(ok ? "data-copied" : "data-copy-failed");
    }
    input.focus();
    input.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(function () { say(true); },
        function () { say(document.execCommand("copy")); });
    } else {
      say(document.execCommand("copy"));
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () { copy(button); });
    });
  });
})();

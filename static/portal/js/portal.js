/* Every portal page: small progressive enhancements (the pages work without them). */
(function () {
  "use strict";
  window.Flowmatik = window.Flowmatik || {};

  /** The CSRF token of this page (for fetch POSTs). */
  window.Flowmatik.csrfToken = function () {
    return document.body ? document.body.getAttribute("data-csrf-token") || "" : "";
  };

  document.addEventListener("DOMContentLoaded", function () {
    // <select data-autosubmit>: submit its form on change (the button stays for
    // keyboard and no-JavaScript users).
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () {
        if (select.form) select.form.requestSubmit();
      });
    });
    // Copy buttons: <button data-copy-target="id">
    document.querySelectorAll("[data-copy-target]").forEach(function (button) {
      button.addEventListener("click", function () {
        var target = document.getElementById(button.getAttribute("data-copy-target"));
        if (!target || !navigator.clipboard) return;
        navigator.clipboard.writeText(target.textContent.trim()).then(function () {
          var done = button.getAttribute("data-copied-label");
          if (done) button.textContent = done;
        });
      });
    });
  });
})();

// The content studio: show only the chosen format's options, follow a running job
// by fetching its panel until it finishes, and copy a result's text.
(function () {
  "use strict";

  // --- the form: one options fieldset per format; the chosen one is shown
  const form = document.getElementById("studio-form");
  if (form) {
    const sets = form.querySelectorAll(".studio-options");
    const reasoning = form.querySelector(".studio-reasoning");
    const sync = function () {
      const chosen = form.querySelector("input[name=type]:checked");
      sets.forEach(function (set) {
        const active = chosen && set.dataset.type === chosen.value;
        set.hidden = !active;
        set.disabled = !active; // inactive formats' inputs are not posted
      });
      if (reasoning) {
        // reasoning is for text formats: hidden (and not posted) for media
        const text = chosen && reasoning.dataset.textTypes.split(" ").includes(chosen.value);
        reasoning.hidden = !text;
        reasoning.querySelector("select").disabled = !text;
      }
    };
    form.addEventListener("change", function (event) {
      if (event.target.name === "type") sync();
    });
    sync();
  }

  // --- copy buttons (event delegation: panels are replaced while a job runs)
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy-target]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copyTarget);
    const status = button.parentElement.querySelector("[data-copy-status]");
    const done = function () {
      if (status) status.textContent = button.dataset.copied;
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.value).then(done);
    } else {
      source.removeAttribute("aria-hidden");
      source.select();
      document.execCommand("copy");
      source.setAttribute("aria-hidden", "true");
      done();
    }
  });

  // --- a running job: fetch its panel until it is no longer queued or running
  function follow() {
    const panel = document.getElementById("job-panel");
    if (!panel || !panel.dataset.pollUrl) return;
    const wait = Math.max(250, Number(panel.dataset.pollMs) || 1000);
    window.setTimeout(function () {
      fetch(panel.dataset.pollUrl, { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.text();
        })
        .then(function (html) {
          const template = document.createElement("template");
          template.innerHTML = html.trim();
          panel.replaceWith(template.content);
          follow();
        })
        .catch(function () {
          window.setTimeout(follow, wait * 4); // a hiccup: try again later
        });
    }, wait);
  }
  follow();
})();

/* The notifications page: a notification pushed live (bell.js relays it as the
 * "flowmatik:notification" event) appears at the top of the list. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var list = document.querySelector("[data-notification-list]");
    var status = document.querySelector("[data-live-status]");
    if (!list) return;
    document.addEventListener("flowmatik:notification", function (event) {
      var data = event.detail || {};
      var empty = list.querySelector("[data-empty]");
      if (empty) empty.remove();
      var item = document.createElement("li");
      item.className = "notification notification--unread";
      item.setAttribute("data-notification", String(data.id));
      var title = document.createElement("p");
      title.className = "notification__title";
      title.textContent = data.title || "";
      var meta = document.createElement("span");
      meta.className = "notification__meta";
      meta.textContent = list.getAttribute("data-label-now") || "";
      item.appendChild(title);
      item.appendChild(meta);
      if (data.body) {
        var body = document.createElement("p");
        body.className = "notification__body";
        body.textContent = data.body;
        item.appendChild(body);
      }
      list.insertBefore(item, list.firstChild);
      if (status) status.textContent = (list.getAttribute("data-label-new") || "") + ": " + (data.title || "");
    });
  });
})();

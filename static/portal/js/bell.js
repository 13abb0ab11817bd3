/* The app shell's bell: the unread count, live over /ws/notifications/. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var bell = document.querySelector("[data-bell]");
    if (!bell || !window.Flowmatik || !window.Flowmatik.openSocket) return;
    var badge = bell.querySelector("[data-bell-count]");
    var count = parseInt(badge.textContent, 10) || 0;

    function render() {
      badge.textContent = String(count);
      badge.hidden = count === 0;
      bell.setAttribute(
        "aria-label",
        count === 0
          ? bell.getAttribute("data-label-none")
          : bell.getAttribute("data-label-some") + " " + count
      );
    }

    render();
    // Other scripts (the notifications page) announce reads with this event.
    document.addEventListener("flowmatik:notifications-read", function (event) {
      var read = (event.detail && event.detail.count) || 0;
      count = event.detail && event.detail.all ? 0 : Math.max(0, count - read);
      render();
    });
    window.Flowmatik.notificationsSocket = window.Flowmatik.openSocket("/ws/notifications/", {
      onMessage: function (message) {
        if (!message || message.type !== "notification") return;
        count += 1;
        render();
        document.dispatchEvent(new CustomEvent("flowmatik:notification", { detail: message }));
      },
    });
  });
})();

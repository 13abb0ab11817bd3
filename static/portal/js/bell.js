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
    // After a dropped socket comes back, notifications sent meanwhile were missed:
    // the count is asked for again (the API's unread list, one item per page).
    var opened = 0;
    function refetch() {
      fetch("/api/notifications?unread=true&page_size=1", {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.json();
        })
        .then(function (page) {
          if (typeof page.count === "number") {
            count = page.count;
            render();
          }
        })
        .catch(function () {
          // the old count stays; the next notification moves it
        });
    }
    window.Flowmatik.notificationsSocket = window.Flowmatik.openSocket("/ws/notifications/", {
      onOpen: function () {
        opened += 1;
        if (opened > 1) refetch();
      },
      onMessage: function (message) {
        if (!message || message.type !== "notification") return;
        count += 1;
        render();
        document.dispatchEvent(new CustomEvent("flowmatik:notification", { detail: message }));
      },
    });
  });
})();

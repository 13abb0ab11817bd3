/* Flowmatik.openSocket(path, {onMessage, onOpen, onClose, reconnect}): a WebSocket
 * authenticated for the logged-in portal session.
 *
 * Each (re)connection first mints a one-use ticket with POST /app/ws-ticket/
 * (session cookie + CSRF token), then opens `path` with the subprotocol pair
 * ["ticket", <ticket>] (flowmatik/ws_auth.py). Messages are parsed as JSON.
 * Unless `reconnect: false`, a dropped socket reconnects with back-off (1 s doubling
 * to 30 s); a second 4401 close in a row (the session is over)
 * stops reconnecting, as does a refused ticket (401/403). Returns a handle:
 * {send(obj), close(), get socket()}.
 */
(function () {
  "use strict";
  window.Flowmatik = window.Flowmatik || {};

  function csrfToken() {
    return (document.body && document.body.getAttribute("data-csrf-token")) || "";
  }

  function mintTicket() {
    return fetch("/app/ws-ticket/", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
    }).then(function (response) {
      if (!response.ok) {
        var error = new Error("ticket refused: " + response.status);
        error.status = response.status;
        throw error;
      }
      return response.json();
    }).then(function (body) { return body.ticket; });
  }

  function socketUrl(path) {
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + window.location.host + path;
  }

  window.Flowmatik.openSocket = function (path, options) {
    options = options || {};
    var handle = { closed: false, socket: null, attempts: 0, refusals: 0 };
    var retryTimer = null;

    function scheduleRetry() {
      if (handle.closed || options.reconnect === false) return;
      var delay = Math.min(30000, 1000 * Math.pow(2, handle.attempts));
      handle.attempts += 1;
      retryTimer = window.setTimeout(connect, delay);
    }

    function connect() {
      retryTimer = null;
      mintTicket().then(function (ticket) {
        if (handle.closed) return;
        var socket = new WebSocket(socketUrl(path), ["ticket", ticket]);
        handle.socket = socket;
        socket.addEventListener("open", function (event) {
          handle.attempts = 0;
          if (options.onOpen) options.onOpen(event, handle);
        });
        socket.addEventListener("message", function (event) {
          var data;
          handle.refusals = 0;
          try { data = JSON.parse(event.data); } catch (e) { data = event.data; }
          if (options.onMessage) options.onMessage(data, event, handle);
        });
        socket.addEventListener("close", function (event) {
          if (options.onClose) options.onClose(event, handle);
          if (event.code === 4401) {
            // A session that ended: one fresh ticket, then give up.
            handle.refusals += 1;
            if (handle.refusals > 1) return;
          }
          if (event.code === 1000 && handle.closed) return;
          scheduleRetry();
        });
      }).catch(function (error) {
        if (options.onClose) options.onClose({ code: 0, reason: String(error) }, handle);
        if (error && (error.status === 401 || error.status === 403)) return; // logged out
        scheduleRetry();
      });
    }

    connect();
    return {
      send: function (message) {
        if (!handle.socket || handle.socket.readyState !== WebSocket.OPEN) return false;
        handle.socket.send(typeof message === "string" ? message : JSON.stringify(message));
        return true;
      },
      close: function () {
        handle.closed = true;
        if (retryTimer) window.clearTimeout(retryTimer);
        if (handle.socket) handle.socket.close(1000);
      },
      get socket() { return handle.socket; },
    };
  };
})();

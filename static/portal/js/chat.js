// The chat page: send a message over /ws/chat/, show the reply as it streams in
// (as plain text), then swap in the stored reply rendered on the server (Markdown
// with raw HTML escaped). Reasoning steps and an agent's tool calls are listed in
// the reply as they happen. Stop sends the socket's cancel. No inline code (CSP).
(function () {
  "use strict";

  const root = document.getElementById("chat");
  if (!root) return;
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");
  const modelPicker = document.getElementById("chat-model");
  const agentPicker = document.getElementById("chat-agent");
  const reasoningPicker = document.getElementById("chat-reasoning");
  const sendButton = document.getElementById("chat-send");
  const stopButton = document.getElementById("chat-stop");
  const list = document.getElementById("chat-messages");
  const statusLine = document.getElementById("chat-status");
  const quotaAlert = document.getElementById("chat-quota-exhausted");
  const text = root.dataset;

  let conversationId = root.dataset.conversationId ? Number(root.dataset.conversationId) : null;
  let handle = null; // what Flowmatik.openSocket returned
  let isOpen = false;
  let pending = null; // a chat frame waiting for the socket to open
  let firstMessage = ""; // the message that started a new conversation
  let reply = null; // the assistant bubble being streamed into
  let streaming = false;

  function setStatus(message) {
    statusLine.textContent = message || "";
  }

  function setStreaming(on) {
    streaming = on;
    stopButton.hidden = !on;
    sendButton.disabled = on;
    root.dataset.streaming = on ? "true" : "false";
  }

  function bubble(role, content) {
    const empty = document.getElementById("chat-empty");
    if (empty) empty.remove();
    const article = document.createElement("article");
    article.className = "chat-message chat-message--" + role;
    const body = document.createElement("div");
    body.className = "chat-message__body";
    body.textContent = content || "";
    article.appendChild(body);
    list.appendChild(article);
    article.scrollIntoView({ block: "end" });
    return article;
  }

  function note(article, message) {
    const p = document.createElement("p");
    p.className = "chat-message__note";
    p.textContent = message;
    article.appendChild(p);
  }

  async function fetchFragment(url) {
    const response = await fetch(url, {
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" },
    });
    if (!response.ok) throw new Error(String(response.status));
    const template = document.createElement("template");
    template.innerHTML = (await response.text()).trim();
    return template.content;
  }

  async function refreshQuota() {
    const box = document.getElementById("chat-quota");
    if (!box) return;
    try {
      box.replaceWith(await fetchFragment("/app/chat/quota/"));
    } catch (error) {
      // the old figures stay; the next reply refreshes them
    }
  }

  // The reply's steps (reasoning, tool calls) as a list that opens on demand.
  function stepsOf(article) {
    let steps = article.querySelector(".chat-steps");
    if (!steps) {
      steps = document.createElement("details");
      steps.className = "chat-steps";
      const summary = document.createElement("summary");
      summary.textContent = text.strSteps;
      steps.appendChild(summary);
      steps.appendChild(document.createElement("ol"));
      article.insertBefore(steps, article.firstChild);
    }
    return steps;
  }

  function addStep(article, kind, title, detail) {
    const steps = stepsOf(article);
    const item = document.createElement("li");
    item.dataset.step = kind;
    const name = document.createElement("strong");
    name.textContent = title;
    item.appendChild(name);
    if (detail) {
      const body = document.createElement("div");
      body.className = "chat-steps__detail";
      body.textContent = detail; // plain text: never HTML
      item.appendChild(body);
    }
    steps.querySelector("ol").appendChild(item);
    steps.querySelector("summary").textContent =
      text.strSteps + " (" + steps.querySelectorAll("li").length + ")";
  }

  async function showStored(article, messageId) {
    if (!conversationId || !messageId) return;
    try {
      const fragment = await fetchFragment(
        "/app/chat/" + conversationId + "/messages/" + messageId + "/"
      );
      const steps = article.querySelector(".chat-steps");
      const stored = fragment.querySelector("article");
      if (steps && stored) stored.insertBefore(steps, stored.firstChild);
      article.replaceWith(fragment);
    } catch (error) {
      // the streamed plain text stays on the page
    }
  }

  function frameOf(message) {
    if (message && typeof message.data === "string") {
      try {
        return JSON.parse(message.data);
      } catch (error) {
        return null;
      }
    }
    return message;
  }

  // A new conversation gets its id when the first turn is stored: the address
  // bar follows, so a reload shows it.
  function adopt(id) {
    if (!id || id === conversationId) return;
    const isNew = !conversationId;
    conversationId = id;
    root.dataset.conversationId = String(id);
    window.history.replaceState(null, "", "/app/chat/" + id + "/");
    const conversations = document.getElementById("chat-list");
    if (isNew && conversations) {
      // the new conversation heads the list (titled by its first message, as stored)
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = "/app/chat/" + id + "/";
      link.setAttribute("aria-current", "page");
      link.textContent = firstMessage.split(/\s+/).join(" ").slice(0, 60);
      item.appendChild(link);
      conversations.querySelectorAll(".muted").forEach(function (row) { row.remove(); });
      conversations.querySelectorAll("[aria-current]").forEach(function (a) {
        a.removeAttribute("aria-current");
      });
      conversations.prepend(item);
    }
  }

  function onFrame(message) {
    const frame = frameOf(message);
    if (!frame || !frame.type) return;
    const current = reply;
    switch (frame.type) {
      case "start":
        adopt(frame.conversation_id);
        setStatus(text.strStreaming);
        break;
      case "reasoning_step": {
        const label = frame.step + (frame.section ? " " + frame.section : "");
        if (current) addStep(current, frame.step, label, frame.content);
        setStatus(text.strStep + " " + frame.index + " (" + label + ")…");
        break;
      }
      case "tool_call":
        if (current) addStep(current, "tool_call", text.strTool + ": " + frame.name, frame.arguments);
        break;
      case "tool_result":
        if (current) addStep(current, "tool_result", text.strTool + ": " + frame.name, frame.content);
        break;
      case "delta":
        if (current) {
          current.querySelector(".chat-message__body").textContent += frame.content || "";
          current.dataset.updates = String(Number(current.dataset.updates || 0) + 1);
        }
        break;
      case "done":
        adopt(frame.conversation_id);
        setStreaming(false);
        reply = null;
        setStatus(text.strDone);
        if (current) showStored(current, frame.message_id);
        refreshQuota();
        break;
      case "cancelled":
        setStreaming(false);
        reply = null;
        if (current) note(current, text.strStopped);
        setStatus(text.strStopped);
        refreshQuota();
        break;
      case "error":
        setStreaming(false);
        reply = null;
        if (current && !current.querySelector(".chat-message__body").textContent) {
          current.remove();
        }
        if (frame.code === "quota_exceeded") {
          quotaAlert.hidden = false;
          setStatus("");
          refreshQuota();
        } else {
          setStatus(text.strError + " " + (frame.message || frame.code));
        }
        break;
      default:
        break; // a reasoning model's thoughts and usage are not shown live
    }
  }

  // Flowmatik.openSocket (static/portal/js/socket.js) mints a ticket for the
  // session, connects, and reconnects by itself; a frame typed before the socket
  // is open waits for it.
  function onOpen() {
    isOpen = true;
    if (pending && handle) {
      const frame = pending;
      pending = null;
      handle.send(frame);
    }
  }

  function onClose(event) {
    isOpen = false;
    const refused = /ticket refused: 40[13]/.test((event && event.reason) || "");
    if (streaming && (refused || !pending)) {
      pending = null;
      setStreaming(false);
      reply = null;
      setStatus(text.strClosed);
    }
  }

  function ensureSocket() {
    if (handle) return true;
    const api = window.Flowmatik;
    if (!api || typeof api.openSocket !== "function") return false;
    handle = api.openSocket("/ws/chat/", { onMessage: onFrame, onOpen: onOpen, onClose: onClose });
    return true;
  }

  function transmit(frame) {
    if (!ensureSocket()) {
      throw new Error(text.strUnavailable);
    }
    if (!(isOpen && handle.send(frame))) pending = frame;
  }

  function send(event) {
    event.preventDefault();
    const message = input.value.trim();
    if (!message || streaming) return;
    quotaAlert.hidden = true;
    if (!conversationId) firstMessage = message;
    bubble("user", message);
    reply = bubble("assistant", "");
    reply.dataset.updates = "0";
    input.value = "";
    setStreaming(true);
    const frame = { type: "chat", message: message };
    if (conversationId) frame.conversation_id = conversationId;
    if (modelPicker && modelPicker.value) frame.model = modelPicker.value;
    if (agentPicker && agentPicker.value) frame.agent = agentPicker.value;
    if (reasoningPicker && Number(reasoningPicker.value) > 0) {
      frame.reasoning = { depth: Number(reasoningPicker.value) };
    }
    try {
      transmit(frame);
    } catch (error) {
      setStreaming(false);
      if (reply && !reply.querySelector(".chat-message__body").textContent) reply.remove();
      reply = null;
      setStatus(text.strError + " " + error.message);
    }
  }

  form.addEventListener("submit", send);
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  stopButton.addEventListener("click", function () {
    if (handle && streaming) handle.send({ type: "cancel" });
  });
  const last = list.lastElementChild;
  if (last) last.scrollIntoView({ block: "end" });
  ensureSocket();
  const quotaBox = document.getElementById("chat-quota");
  if (quotaBox && quotaBox.dataset.remainingRequests === "0") quotaAlert.hidden = false;
})();

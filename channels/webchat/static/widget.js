/*
 * Frontdesk web chat widget.
 *
 * One tag on any page:
 *
 *   <script src="https://support.example.com/webchat/widget.js"
 *           data-frontdesk-url="https://support.example.com" defer></script>
 *
 * Optional data- attributes: data-frontdesk-url (default: where this script came from), data-title,
 * data-greeting, data-accent (a CSS colour), data-launcher-label.
 *
 * Plain JavaScript with no build step and no third-party code. The widget lives in a shadow root, so the
 * host page's CSS cannot break it, and it cannot break the page. It talks to Frontdesk over a WebSocket
 * (wire protocol: channels/webchat/protocol.py); when WebSockets are blocked it falls back to REST with
 * server-sent events and polls for replies from people. The visitor token is kept in localStorage, so a
 * reload (or a visit days later) resumes the same conversation.
 *
 * The host page can listen to what happens: the script's element dispatches `frontdesk:open`,
 * `frontdesk:close`, `frontdesk:reply`, `frontdesk:human`, `frontdesk:status` and `frontdesk:rated`
 * (bubbling, composed CustomEvents on the widget's host element).
 */
(function () {
  "use strict";

  if (window.__frontdeskWebchat) return; // the tag was included twice
  window.__frontdeskWebchat = true;

  // Configuration from the script tag.

  var script = document.currentScript || document.querySelector('script[src*="/webchat/widget.js"]');
  var data = (script && script.dataset) || {};
  var scriptUrl = new URL((script && script.src) || "/webchat/widget.js", location.href);
  var BASE = (data.frontdeskUrl || scriptUrl.origin).replace(/\/+$/, "");
  var TITLE = data.title || "Support";
  var GREETING = data.greeting || "Hi! Ask me anything, and I'll answer from our help centre. You can talk to a person at any time.";
  var LAUNCHER_LABEL = data.launcherLabel || "Chat with us";
  var TOKEN_KEY = "frontdesk-webchat-token:" + BASE;
  var OPEN_KEY = "frontdesk-webchat-open:" + BASE;
  var MAX_TEXT = 4000;
  var POLL_MS = 4000;
  var MAX_BACKOFF_MS = 30000;
  var SOCKET_FAILURES_BEFORE_FALLBACK = 2;
  var SESSION_GONE = { 4401: true, 4403: true, 4404: true };
  var SESSION_CODES = { unauthorized: true, forbidden: true, not_found: true };

  // Storage may be blocked (private mode, sandboxed iframes): the chat then simply does not survive reloads.
  function stored(storage, key) {
    try { return storage.getItem(key); } catch (e) { return null; }
  }
  function store(storage, key, value) {
    try {
      if (value === null) storage.removeItem(key); else storage.setItem(key, value);
    } catch (e) { /* not kept */ }
  }

  var state = {
    token: stored(localStorage, TOKEN_KEY),
    ws: null,
    mode: "socket",          // "socket", or "rest" once WebSockets failed to open
    socketFailures: 0,       // consecutive connections that never opened
    attempt: 0,              // reconnection attempt, for the backoff
    reconnectTimer: null,
    pollTimer: null,
    creatingSession: null,   // the promise of POST /sessions while it runs
    pending: new Map(),      // client message id -> text, until its reply arrives
    control: [],             // frames waiting for the socket ("human", "rating")
    shown: new Set(),        // keys of the messages on screen, so nothing shows twice
    lastId: 0,               // highest stored message id seen (REST polling asks for newer ones)
    streams: new Map(),      // client message id -> the answer bubble being written
    typing: new Map(),       // client message id -> { words, timer }: streamed text still being revealed
    status: "bot",
    rating: null,
    open: false,
    unread: 0,
  };

  // DOM helpers: every piece of text goes in through textContent, never as HTML.

  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) return;
        if (name === "text") el.textContent = value;
        else if (name === "class") el.className = value;
        else if (name.slice(0, 2) === "on") el.addEventListener(name.slice(2), value);
        else el.setAttribute(name, value === true ? "" : value);
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child) el.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return el;
  }

  function icon(path) {
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var p = document.createElementNS("http://www.w3.org/2000/svg", "path");
    p.setAttribute("d", path);
    svg.appendChild(p);
    return svg;
  }

  function safeUrl(url) {
    try {
      var parsed = new URL(url, BASE);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }

  // The interface.

  var host = h("div", { id: "frontdesk-webchat" });
  var root = host.attachShadow({ mode: "open" });
  if (data.accent) host.style.setProperty("--fd-accent", data.accent);
  // The layout changes once the stylesheet is in: keep the newest message in view.
  root.appendChild(h("link", { rel: "stylesheet", href: BASE + "/webchat/widget.css", onload: function () { scrollToEnd(); } }));

  var unreadBadge = h("span", { class: "fd-badge", hidden: true, "aria-hidden": "true" });
  var launcher = h(
    "button",
    { type: "button", class: "fd-launcher", "aria-expanded": "false", "aria-controls": "fd-panel", onclick: toggle },
    icon("M4 4h16v11H7l-3 3V4z"),
    h("span", { class: "fd-launcher-label", text: LAUNCHER_LABEL }),
    unreadBadge
  );

  var humanButton = h("button", { type: "button", class: "fd-human", onclick: askForHuman, text: "Talk to a person" });
  var endButton = h("button", { type: "button", class: "fd-end", onclick: endChat, text: "End chat", hidden: true });
  var closeButton = h("button", { type: "button", class: "fd-close", "aria-label": "Close chat", onclick: close }, icon("M6 6l12 12M18 6L6 18"));
  var statusLine = h("p", { class: "fd-status", role: "status", hidden: true });
  var transcript = h("ol", { class: "fd-transcript", "aria-label": "Conversation", tabindex: "0" });
  var typingDots = h("span", { class: "fd-dots", "aria-hidden": "true" }, h("i"), h("i"), h("i"));
  var typingText = h("span", { class: "fd-typing-text" });
  var typing = h("div", { class: "fd-typing", hidden: true }, typingDots, typingText);
  var input = h("textarea", {
    id: "fd-input",
    rows: "1",
    maxlength: String(MAX_TEXT),
    placeholder: "Ask a question…",
    autocomplete: "off",
    "aria-describedby": "fd-hint",
  });
  var sendButton = h("button", { type: "submit", class: "fd-send", "aria-label": "Send message" }, icon("M3 20l18-8L3 4v6l12 2-12 2z"));
  var composer = h(
    "form",
    { class: "fd-composer", onsubmit: onSubmit },
    h("label", { for: "fd-input", class: "fd-sr", text: "Your message" }),
    input,
    sendButton,
    h("p", { id: "fd-hint", class: "fd-sr", text: "Press Enter to send, Shift+Enter for a new line, Escape to close the chat." })
  );
  var ratingForm = buildRatingForm();
  var live = h("div", { class: "fd-sr", "aria-live": "polite", "aria-relevant": "additions" });
  var panel = h(
    "section",
    { id: "fd-panel", class: "fd-panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "fd-title", hidden: true },
    h("header", { class: "fd-header" },
      h("div", { class: "fd-title-row" }, h("h2", { id: "fd-title", text: TITLE }), closeButton),
      h("div", { class: "fd-actions" }, humanButton, endButton)
    ),
    statusLine,
    transcript,
    typing,
    ratingForm,
    composer,
    live
  );
  root.appendChild(h("div", { class: "fd-root" }, launcher, panel));
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      event.stopPropagation();
      close();
    }
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      onSubmit(event);
    }
  });
  input.addEventListener("input", function () {
    autoGrow();
    notifyTyping();
  });

  function buildRatingForm() {
    var stars = h("div", { class: "fd-stars" });
    for (var score = 1; score <= 5; score++) {
      var id = "fd-star-" + score;
      stars.appendChild(h("input", { type: "radio", name: "score", value: String(score), id: id, class: "fd-sr-input", required: score === 1 }));
      stars.appendChild(
        h("label", { for: id, title: score + (score === 1 ? " star" : " stars") },
          h("span", { "aria-hidden": "true", text: "★" }),
          h("span", { class: "fd-sr", text: score + (score === 1 ? " star" : " stars") })
        )
      );
    }
    var form = h(
      "form",
      { class: "fd-rating", hidden: true, onsubmit: onRate },
      h("fieldset", null, h("legend", { text: "How was this chat?" }), stars),
      h("label", { for: "fd-comment", class: "fd-comment-label", text: "Anything to add? (optional)" }),
      h("textarea", { id: "fd-comment", name: "comment", rows: "2", maxlength: "1000" }),
      h("div", { class: "fd-rating-actions" },
        h("button", { type: "submit", class: "fd-primary", text: "Send rating" }),
        h("button", { type: "button", class: "fd-secondary", text: "Start a new chat", onclick: newChat })
      )
    );
    return form;
  }

  // Opening and closing.

  function toggle() {
    if (state.open) close(); else open();
  }

  function open() {
    state.open = true;
    store(sessionStorage, OPEN_KEY, "1");
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    launcher.classList.add("fd-launcher--open");
    setUnread(0);
    if (state.token && !state.ws && state.mode === "socket") connect();
    scrollToEnd();
    input.focus();
    emit("open", {});
  }

  function close() {
    state.open = false;
    store(sessionStorage, OPEN_KEY, null);
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.classList.remove("fd-launcher--open");
    launcher.focus();
    emit("close", {});
  }

  function setUnread(count) {
    state.unread = count;
    unreadBadge.hidden = count === 0;
    unreadBadge.textContent = count ? String(count) : "";
    launcher.setAttribute("aria-label", count ? LAUNCHER_LABEL + ", " + count + " new message" + (count > 1 ? "s" : "") : LAUNCHER_LABEL);
  }

  function emit(name, detail) {
    host.dispatchEvent(new CustomEvent("frontdesk:" + name, { detail: detail, bubbles: true, composed: true }));
  }

  // The transcript.

  var WHO = { customer: "You", agent: "Assistant", human: "Support team", system: "" };
  var KEEP_CHATTING = "Keep chatting with the assistant";

  function renderGreeting() {
    transcript.appendChild(messageItem("agent", GREETING, [], "fd-msg--greeting"));
  }

  function messageItem(role, text, citations, extraClass) {
    var item = h("li", { class: "fd-msg fd-msg--" + role + (extraClass ? " " + extraClass : "") });
    if (role === "system") {
      item.appendChild(h("p", { class: "fd-notice", text: text }));
      return item;
    }
    item.appendChild(h("span", { class: "fd-who", text: WHO[role] }));
    item.appendChild(h("div", { class: "fd-bubble", text: text }));
    setSources(item, citations);
    return item;
  }

  // Citations are listed under the answer as links named after the help-centre articles.
  function setSources(item, citations) {
    var old = item.querySelector(".fd-sources");
    if (old) old.remove();
    if (!citations || !citations.length) return;
    var list = h("ul");
    citations.forEach(function (citation) {
      var url = citation.url ? safeUrl(citation.url) : null;
      list.appendChild(
        h("li", null,
          url
            ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: citation.title })
            : h("span", { text: citation.title })
        )
      );
    });
    item.appendChild(h("div", { class: "fd-sources" }, h("span", { class: "fd-sources-label", text: "Sources" }), list));
  }

  function addMessage(key, role, text, citations, announceIt) {
    if (key && state.shown.has(key)) return null;
    if (key) state.shown.add(key);
    var item = messageItem(role, text, citations);
    transcript.appendChild(item);
    scrollToEnd();
    if (announceIt) announce(role, text);
    if (!state.open && (role === "agent" || role === "human")) setUnread(state.unread + 1);
    return item;
  }

  function announce(role, text) {
    var who = WHO[role];
    live.appendChild(h("p", { text: who ? who + ": " + text : text }));
    while (live.childElementCount > 3) live.firstElementChild.remove();
  }

  function noteId(id) {
    if (typeof id === "number" && id > state.lastId) state.lastId = id;
  }

  function scrollToEnd() {
    transcript.scrollTop = transcript.scrollHeight;
    requestAnimationFrame(function () { transcript.scrollTop = transcript.scrollHeight; });
  }

  function showTyping(who) {
    var text = who === "human" ? "A person from our team is typing…" : "The assistant is typing…";
    if (typing.hidden) live.appendChild(h("p", { text: text }));
    typingText.textContent = text;
    typing.hidden = false;
  }

  function hideTyping() {
    typing.hidden = true;
  }

  // The banner under the header says who has the conversation while it waits for a person.
  function setStatus(status, notice) {
    state.status = status;
    var waiting = status === "escalated";
    statusLine.hidden = !waiting;
    statusLine.textContent = waiting ? notice || "Waiting for a person from our team." : "";
    // While waiting, the same button lets the visitor go on with the assistant instead.
    humanButton.textContent = waiting ? KEEP_CHATTING : "Talk to a person";
  }

  // The whole conversation, on every (re)connection: the transcript is redrawn from it.
  function applyHistory(history) {
    transcript.textContent = "";
    state.shown.clear();
    state.streams.clear();
    renderGreeting();
    var received = new Set();   // client ids the server has stored
    var unanswered = new Set(); // ... of those, the ones no answer follows yet
    history.messages.forEach(function (message) {
      var key = message.client_id ? "c:" + message.client_id : "m:" + message.id;
      addMessage(key, message.role, message.text, message.citations, false);
      state.shown.add("m:" + message.id);
      noteId(message.id);
      if (message.role === "customer" && message.client_id) {
        received.add(message.client_id);
        unanswered.add(message.client_id);
      } else if (message.role === "agent" || message.role === "human") {
        unanswered.clear();
      }
    });
    setStatus(history.status, history.notice);
    state.rating = history.rating;
    endButton.hidden = false;
    setUnread(0);
    // A message the server never got is sent again (same id, so it is answered once). One it got but has
    // not answered yet is being answered: the answer arrives on this connection.
    state.pending.forEach(function (text, id) {
      if (!received.has(id)) {
        addMessage("c:" + id, "customer", text, [], false);
        transmit(id, text);
      } else if (!unanswered.has(id) || state.status === "escalated") {
        state.pending.delete(id);
      }
    });
    if (state.pending.size) showTyping("agent"); else hideTyping();
  }

  function streamBubble(id) {
    var item = state.streams.get(id);
    if (!item) {
      item = messageItem("agent", "", [], "fd-msg--streaming");
      item.setAttribute("aria-busy", "true");
      transcript.appendChild(item);
      state.streams.set(id, item);
    }
    return item;
  }

  // A delta may hold a whole sentence (an answer written at once comes in a few frames): it is revealed a
  // word at a time, as it would have been written, unless the visitor asked for reduced motion.
  var REVEAL_MS = 25;
  var reducedMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  function reveal(id, text) {
    var bubble = streamBubble(id).querySelector(".fd-bubble");
    var words = text.match(/\S+\s*|\s+/g) || [];
    var queue = state.typing.get(id);
    if (reducedMotion) {
      bubble.textContent += words.join("");
      scrollToEnd();
      return;
    }
    if (!queue) {
      queue = { words: [], timer: null };
      state.typing.set(id, queue);
    }
    queue.words = queue.words.concat(words);
    if (queue.timer === null) step();

    function step() {
      var word = queue.words.shift();
      if (word === undefined) {
        queue.timer = null;
        return;
      }
      bubble.textContent += word;
      scrollToEnd();
      queue.timer = setTimeout(step, REVEAL_MS);
    }
  }

  function stopRevealing(id) {
    var queue = state.typing.get(id);
    if (queue && queue.timer !== null) clearTimeout(queue.timer);
    state.typing.delete(id);
  }

  // Frames from the server (see channels/webchat/protocol.py).

  function handleFrame(frame) {
    switch (frame.type) {
      case "hello":
        applyHistory({ messages: frame.history, status: frame.status, notice: frame.notice, rating: frame.rating });
        flushControl();
        break;
      case "customer_message": // from another window of the same conversation
        addMessage("c:" + frame.id, "customer", frame.text, [], false);
        break;
      case "typing":
        if (frame.active) showTyping(frame.who); else hideTyping();
        break;
      case "delta":
        hideTyping();
        reveal(frame.id, frame.text);
        break;
      case "reply":
        finishReply(frame);
        break;
      case "human_message":
      case "agent_message":
      case "notice": {
        hideTyping();
        var role = frame.type === "human_message" ? "human" : frame.type === "agent_message" ? "agent" : "system";
        // An answer delivered later (the server restarted while writing it) answers what was waiting.
        if (role === "agent") state.pending.clear();
        addMessage("o:" + frame.message_id, role, frame.text, frame.citations, true);
        if (role === "human") emit("human", { text: frame.text });
        break;
      }
      case "status":
        if (frame.status === "escalated" && state.status !== "escalated" && frame.text) {
          addMessage("s:" + frame.status + ":" + frame.text, "system", frame.text, [], true);
        }
        setStatus(frame.status, frame.notice);
        emit("status", { status: frame.status, reason: frame.reason });
        break;
      case "rated":
        state.rating = frame.score;
        showRated();
        emit("rated", { score: frame.score });
        break;
      case "error":
        onError(frame);
        break;
      default:
        break; // a newer server's frame: ignored
    }
  }

  function finishReply(frame) {
    hideTyping();
    stopRevealing(frame.id); // the whole text arrives with the reply
    state.pending.delete(frame.id);
    noteId(frame.message_id);
    noteId(frame.customer_message_id);
    if (frame.customer_message_id) state.shown.add("m:" + frame.customer_message_id);
    var key = frame.message_id ? "m:" + frame.message_id : "r:" + frame.id;
    var item = state.streams.get(frame.id);
    state.streams.delete(frame.id);
    if (state.shown.has(key)) {
      if (item) item.remove();
      return;
    }
    state.shown.add(key);
    if (!item) {
      item = messageItem("agent", "", []);
      transcript.appendChild(item);
    }
    item.classList.remove("fd-msg--streaming");
    item.removeAttribute("aria-busy");
    item.querySelector(".fd-bubble").textContent = frame.text;
    setSources(item, frame.citations);
    scrollToEnd();
    announce("agent", frame.text + (frame.citations.length ? " (sources listed below the answer)" : ""));
    if (!state.open) setUnread(state.unread + 1);
    emit("reply", { text: frame.text, citations: frame.citations, escalated: frame.escalated });
  }

  function onError(frame) {
    hideTyping();
    if (SESSION_CODES[frame.code]) return; // the socket closes next, and that is handled there
    if (frame.id && state.pending.has(frame.id)) {
      var id = frame.id;
      var text = state.pending.get(id);
      var retry = h("button", { type: "button", class: "fd-retry", text: "Try again" });
      var item = h("li", { class: "fd-msg fd-msg--system" }, h("p", { class: "fd-notice", text: "Your message could not be answered: " + frame.reason + " " }, retry));
      retry.addEventListener("click", function () {
        item.remove();
        showTyping("agent");
        transmit(id, text);
      });
      transcript.appendChild(item);
      announce("system", "Your message could not be answered. " + frame.reason);
      scrollToEnd();
      return;
    }
    addMessage(null, "system", "Sorry: " + frame.reason, [], true);
  }

  // The connection.

  function api(path) {
    return BASE + "/v1/webchat" + path;
  }

  function ensureSession() {
    if (state.token) return Promise.resolve(state.token);
    if (!state.creatingSession) {
      state.creatingSession = fetch(api("/sessions"), { method: "POST", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("the chat is unavailable (" + response.status + ")");
          return response.json();
        })
        .then(function (session) {
          state.token = session.token;
          store(localStorage, TOKEN_KEY, session.token);
          endButton.hidden = false;
          if (state.mode === "socket") connect(); else startRestMode();
          return session.token;
        })
        .finally(function () { state.creatingSession = null; });
    }
    return state.creatingSession;
  }

  function connect() {
    if (!state.token) return;
    clearTimeout(state.reconnectTimer);
    var opened = false;
    // The token goes in the first frame rather than the URL, so that it never shows in access logs.
    var url = BASE.replace(/^http/, "ws") + "/v1/webchat/ws";
    var ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      state.socketFailures += 1;
      startRestMode();
      return;
    }
    state.ws = ws;
    ws.onopen = function () {
      ws.send(JSON.stringify({ type: "auth", token: state.token }));
      opened = true;
      state.socketFailures = 0;
      state.attempt = 0;
      if (state.mode === "rest") stopRestMode();
    };
    ws.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      handleFrame(frame);
    };
    ws.onclose = function (event) {
      if (state.ws !== ws) return; // a connection we already replaced
      state.ws = null;
      if (SESSION_GONE[event.code]) {
        // The token expired or its conversation is gone: start afresh with the next message.
        forgetSession();
        addMessage(null, "system", "Your earlier chat could not be resumed. Ask away to start a new one.", [], true);
        return;
      }
      if (!opened) state.socketFailures += 1;
      if (state.socketFailures >= SOCKET_FAILURES_BEFORE_FALLBACK && state.mode === "socket") startRestMode();
      scheduleReconnect();
    };
  }

  // Reconnect with exponential backoff and jitter: 1 s, 2 s, 4 s ... up to 30 s.
  function scheduleReconnect() {
    if (!state.token) return;
    var delay = Math.min(MAX_BACKOFF_MS, 1000 * Math.pow(2, state.attempt));
    state.attempt += 1;
    state.reconnectTimer = setTimeout(connect, delay * (0.5 + Math.random() / 2));
  }

  function socketOpen() {
    return state.ws && state.ws.readyState === WebSocket.OPEN;
  }

  function sendFrame(frame) {
    if (!socketOpen()) return false;
    state.ws.send(JSON.stringify(frame));
    return true;
  }

  function flushControl() {
    var waiting = state.control;
    state.control = [];
    waiting.forEach(function (frame) { sendOrPost(frame); });
  }

  // A visitor's message goes over the socket, or over REST in fallback mode; while the socket is
  // (re)connecting it waits in `pending` and the next `hello` sends it.
  function transmit(id, text) {
    if (sendFrame({ type: "message", id: id, text: text })) return;
    if (state.mode === "rest") restMessage(id, text);
  }

  function sendOrPost(frame) {
    if (sendFrame(frame)) return;
    if (state.mode !== "rest") {
      state.control.push(frame);
      return;
    }
    var path = frame.type === "human" ? "/human" : "/rating";
    var body = frame.type === "rating" ? JSON.stringify({ score: frame.score, comment: frame.comment }) : "{}";
    authorized(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: body })
      .then(function (response) { return response.json(); })
      .then(handleFrame)
      .catch(restFailed);
  }

  function authorized(path, init) {
    init.headers = Object.assign({ Authorization: "Bearer " + state.token }, init.headers || {});
    return fetch(api(path), init).then(function (response) {
      if (response.status === 401 || response.status === 403 || response.status === 404) {
        forgetSession();
        throw new Error("your earlier chat could not be resumed; ask away to start a new one");
      }
      if (!response.ok) {
        return response.json().then(function (body) {
          var detail = typeof body.detail === "string" ? body.detail : "the request was refused";
          throw new Error(detail);
        });
      }
      return response;
    });
  }

  function restFailed(error) {
    hideTyping();
    addMessage(null, "system", "Sorry: " + error.message, [], true);
  }

  // The REST fallback: the answer streams back as server-sent events on the POST's response.
  function restMessage(id, text) {
    authorized("/messages", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ id: id, text: text, stream: true }),
    })
      .then(function (response) { return readEvents(response); })
      .catch(function (error) { onError({ id: id, reason: error.message }); });
  }

  function readEvents(response) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) return;
        buffer += decoder.decode(chunk.value, { stream: true });
        var events = buffer.split("\n\n");
        buffer = events.pop();
        events.forEach(function (block) {
          var payload = block.split("\n").filter(function (line) { return line.indexOf("data: ") === 0; })
            .map(function (line) { return line.slice(6); }).join("\n");
          if (payload) handleFrame(JSON.parse(payload));
        });
        return pump();
      });
    }
    return pump();
  }

  function startRestMode() {
    if (state.mode === "rest" && state.pollTimer) return;
    state.mode = "rest";
    if (!state.token) return;
    authorized("/history", { method: "GET" })
      .then(function (response) { return response.json(); })
      .then(function (history) {
        applyHistory(history);
        flushControl();
      })
      .catch(restFailed);
    clearInterval(state.pollTimer);
    state.pollTimer = setInterval(poll, POLL_MS);
  }

  function stopRestMode() {
    state.mode = "socket";
    clearInterval(state.pollTimer);
    state.pollTimer = null;
  }

  // In fallback mode, replies from people arrive by polling for messages newer than the last one seen.
  function poll() {
    if (!state.token || document.hidden) return;
    authorized("/history?after=" + state.lastId, { method: "GET" })
      .then(function (response) { return response.json(); })
      .then(function (history) {
        history.messages.forEach(function (message) {
          noteId(message.id);
          if (state.shown.has("m:" + message.id)) return;
          var key = message.client_id ? "c:" + message.client_id : "m:" + message.id;
          state.shown.add("m:" + message.id);
          addMessage(key, message.role, message.text, message.citations, message.role !== "customer");
        });
        if (history.status !== state.status) setStatus(history.status, history.notice);
      })
      .catch(function () { /* the next poll tries again */ });
  }

  function forgetSession() {
    state.token = null;
    store(localStorage, TOKEN_KEY, null);
    if (state.ws) {
      var ws = state.ws;
      state.ws = null;
      ws.close();
    }
    clearTimeout(state.reconnectTimer);
    stopRestMode();
    state.pending.clear();
    state.control = [];
    state.lastId = 0;
    endButton.hidden = true;
    setStatus("bot", null);
  }

  // What the visitor does.

  function newId() {
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return "m-" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function onSubmit(event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    if (text.length > MAX_TEXT) text = text.slice(0, MAX_TEXT);
    input.value = "";
    autoGrow();
    sendText(text);
  }

  function sendText(text) {
    var id = newId();
    var resumed = Boolean(state.token); // a new session sends what is pending once it is connected
    state.pending.set(id, text);
    addMessage("c:" + id, "customer", text, [], false);
    showTyping("agent");
    ensureSession()
      .then(function () { if (resumed) transmit(id, text); })
      .catch(function (error) { onError({ id: id, reason: error.message }); });
  }

  function askForHuman() {
    if (state.status === "escalated") {
      sendText(KEEP_CHATTING); // the service hands the conversation back to the assistant, which answers
      return;
    }
    ensureSession()
      .then(function () { sendOrPost({ type: "human" }); })
      .catch(restFailed);
  }

  var lastTypingSent = 0;
  function notifyTyping() {
    var now = Date.now();
    if (now - lastTypingSent < 3000) return; // at most one "typing" frame every 3 s
    lastTypingSent = now;
    sendFrame({ type: "typing" });
  }

  // The message box grows with its text, up to about five lines.
  function autoGrow() {
    input.style.height = "auto";
    if (input.value) input.style.height = Math.min(input.scrollHeight + 2, 140) + "px";
  }

  // The end of the chat: a rating, then the choice to start again.
  function endChat() {
    composer.hidden = true;
    ratingForm.hidden = false;
    ratingForm.querySelector(".fd-primary").hidden = false;
    ratingForm.querySelector("fieldset").disabled = false;
    var first = ratingForm.querySelector("input[type=radio]");
    first.focus();
    scrollToEnd();
  }

  function onRate(event) {
    event.preventDefault();
    var chosen = ratingForm.querySelector("input[name=score]:checked");
    if (!chosen) return;
    var comment = ratingForm.querySelector("textarea").value.trim();
    sendOrPost({ type: "rating", score: Number(chosen.value), comment: comment || null });
  }

  function showRated() {
    ratingForm.querySelector("fieldset").disabled = true;
    ratingForm.querySelector(".fd-primary").hidden = true;
    addMessage("rated:" + state.rating, "system", "Thanks for your feedback!", [], true);
    ratingForm.querySelector(".fd-secondary").focus();
  }

  function newChat() {
    forgetSession();
    ratingForm.reset();
    ratingForm.hidden = true;
    composer.hidden = false;
    transcript.textContent = "";
    state.shown.clear();
    renderGreeting();
    input.focus();
  }

  // Start: attach to the page; a returning visitor reconnects at once, so a person's reply that came
  // while they were away shows as unread on the launcher.
  function start() {
    document.body.appendChild(host);
    renderGreeting();
    setUnread(0);
    if (state.token) {
      endButton.hidden = false;
      connect();
    }
    if (stored(sessionStorage, OPEN_KEY)) open();
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();

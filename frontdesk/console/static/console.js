/* Frontdesk agent console: signs in, keeps a WebSocket to /v1/console/ws for live state, and drives the
 * /v1/console API. Everything shown is set with textContent (never HTML from the server). */
(function () {
  "use strict";

  var API = "/v1/console";
  var state = {
    me: null,
    csrf: null,
    socket: null,
    retry: 0,
    offers: new Map(),      // offer id -> offer
    knownOffers: null,      // offer ids already seen (null until the first state)
    mine: [],
    open: null,             // the open conversation's view
    shown: new Set(),       // message ids shown in the open conversation
    unread: new Set(),      // conversation ids with messages not seen
    skew: 0,                // server time minus local time, in ms
    audio: null,
  };

  function $(id) { return document.getElementById(id); }

  function h(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        if (key === "text") node.textContent = attrs[key];
        else if (key === "class") node.className = attrs[key];
        else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), attrs[key]);
        else node.setAttribute(key, attrs[key]);
      });
    }
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) node.appendChild(arguments[i]);
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  // The live region keeps the last three announcements, so a quick second one does not swallow the first.
  function announce(text) {
    var region = $("announce");
    region.appendChild(h("p", { text: text }));
    while (region.childElementCount > 3) region.firstElementChild.remove();
  }

  function label(value) { return value ? String(value).replace(/_/g, " ") : "—"; }

  // The API.

  function api(method, path, body, extraHeaders) {
    var headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (state.csrf && method !== "GET") headers["X-CSRF-Token"] = state.csrf;
    Object.assign(headers, extraHeaders || {});
    return fetch(API + path, {
      method: method,
      headers: headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      if (response.status === 204) return null;
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var detail = data && data.detail;
          if (Array.isArray(detail)) detail = detail.map(function (d) { return d.msg; }).join("; ");
          var error = new Error(detail || response.statusText || "request failed");
          error.status = response.status;
          throw error;
        }
        return data;
      });
    });
  }

  function failed(where) {
    return function (error) {
      if (error.status === 401) { signedOut("Your session ended; sign in again."); return; }
      $(where).textContent = error.message;
    };
  }

  // Signing in and out.

  function showSignIn(message) {
    $("work").hidden = true;
    $("who").hidden = true;
    $("sign-in-view").hidden = false;
    $("sign-in-error").textContent = message || "";
    api("GET", "/setup").then(function (setup) {
      var box = $("setup");
      clear(box);
      box.hidden = !setup.how_to_create;
      if (setup.how_to_create) {
        box.appendChild(document.createTextNode(
          "No console account exists yet. On the server, create the first one (an admin) with:"));
        box.appendChild(h("code", { text: setup.how_to_create }));
      }
    }).catch(function () {});
    $("login").focus();
  }

  function signedOut(message) {
    state.me = null;
    state.csrf = null;
    state.knownOffers = null;
    if (state.socket) { state.socket.onclose = null; state.socket.close(); state.socket = null; }
    showSignIn(message);
  }

  function signedIn(me) {
    state.me = me;
    state.csrf = me.csrf_token;
    $("sign-in-view").hidden = true;
    $("who").hidden = false;
    $("work").hidden = false;
    $("me").textContent = me.name + " (" + me.role + ")";
    $("status").value = me.status;
    $("supervisor").hidden = !me.supervises;
    $("work").classList.toggle("supervising", !!me.supervises);
    loadTeams();
    connect();
  }

  $("sign-in").addEventListener("submit", function (event) {
    event.preventDefault();
    var login = $("login").value.trim();
    var password = $("password").value;
    if (!login || !password) { $("sign-in-error").textContent = "Enter your agent id (or e-mail) and password."; return; }
    $("sign-in-error").textContent = "";
    api("POST", "/session", { login: login, password: password }, { "X-Requested-With": "frontdesk-console" })
      .then(function (me) { $("password").value = ""; signedIn(me); })
      .catch(function (error) { $("sign-in-error").textContent = error.message; });
  });

  $("sign-out").addEventListener("click", function () {
    api("DELETE", "/session").catch(function () {}).then(function () { signedOut("You signed out."); });
  });

  $("status").addEventListener("change", function () {
    var wanted = $("status").value;
    api("PUT", "/me/status", { status: wanted })
      .then(function () { announce("Your status is " + wanted + "."); })
      .catch(failed("action-error"));
  });

  // Offer alerts: a sound (WebAudio) and a browser notification when permitted.

  $("notify-button").addEventListener("click", function () {
    var AudioContext = window.AudioContext || window.webkitAudioContext;
    if (AudioContext && !state.audio) state.audio = new AudioContext();
    if (state.audio && state.audio.state === "suspended") state.audio.resume();
    if ("Notification" in window && Notification.permission === "default") {
      Notification.requestPermission().then(updateNotifyButton);
    }
    beep();
    updateNotifyButton();
  });

  function updateNotifyButton() {
    var on = !!state.audio;
    var permitted = "Notification" in window && Notification.permission === "granted";
    $("notify-button").textContent = on ? (permitted ? "Alerts on: sound and notifications" : "Alerts on: sound") : "Turn on offer alerts";
  }

  function beep() {
    var context = state.audio;
    if (!context) return;
    [0, 0.22].forEach(function (offset) {
      var tone = context.createOscillator();
      var gain = context.createGain();
      tone.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, context.currentTime + offset);
      gain.gain.exponentialRampToValueAtTime(0.2, context.currentTime + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, context.currentTime + offset + 0.18);
      tone.connect(gain).connect(context.destination);
      tone.start(context.currentTime + offset);
      tone.stop(context.currentTime + offset + 0.2);
    });
  }

  function alertOffer(offer) {
    var ticket = offer.ticket;
    var text = "New offer: " + ticket.channel + " conversation, " + label(ticket.reason) + ".";
    announce(text);
    beep();
    if ("Notification" in window && Notification.permission === "granted") {
      try {
        var note = new Notification("Frontdesk: new conversation", { body: text + "\n" + (ticket.summary || ""), tag: "offer-" + offer.id });
        note.onclick = function () { window.focus(); note.close(); };
      } catch (ignored) { /* some browsers only notify from a service worker */ }
    }
  }

  // The live feed.

  function connect() {
    if (state.socket) return;
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + API + "/ws");
    state.socket = socket;
    setLive("off", "Connecting…");
    socket.onopen = function () { state.retry = 0; setLive("on", "Live"); if (state.open) watch(state.open.conversation.id); };
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (ignored) { return; }
      onFrame(frame);
    };
    socket.onclose = function (event) {
      state.socket = null;
      if (event.code === 4401) { signedOut("Your session ended; sign in again."); return; }
      setLive("off", "Reconnecting…");
      var delay = Math.min(10000, 500 * Math.pow(2, state.retry++));
      window.setTimeout(function () { if (state.me) connect(); }, delay);
    };
  }

  function setLive(kind, text) { var live = $("live"); live.dataset.state = kind; live.textContent = text; }

  function watch(conversationId) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify({ type: "watch", conversation_id: conversationId }));
    }
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "state": renderState(frame); break;
      case "message": onMessage(frame); break;
      case "conversation_changed":
        if (state.open && state.open.conversation.id === frame.conversation_id) openConversation(frame.conversation_id, true);
        break;
      case "event": onEvent(frame.event); break;
      case "error": if (frame.code !== "signed_out") $("action-error").textContent = frame.reason; break;
      default: break;
    }
  }

  function onEvent(event) {
    var texts = {
      offer_expired: "An offer expired and went to someone else.",
      transferred: "A conversation was transferred.",
      handed_back: "A conversation went back to the queue.",
      resolved: "A conversation was resolved.",
      sla_breached: "A waiting conversation is past its SLA.",
    };
    if (texts[event.kind]) announce(texts[event.kind]);
  }

  function onMessage(frame) {
    var open = state.open && state.open.conversation.id === frame.conversation_id;
    var held = state.mine.some(function (item) { return item.ticket.conversation_id === frame.conversation_id; });
    if (open) {
      appendMessage(frame.message);
    } else if (frame.message.role === "customer" && held) {
      state.unread.add(frame.conversation_id);
      renderMine();
    }
    if (frame.message.role === "customer" && (open || held)) {
      announce("New customer message" + (open ? "" : " in another conversation") + ".");
    }
  }

  // Rendering the state.

  function renderState(frame) {
    if (frame.now) state.skew = Date.parse(frame.now) - Date.now();
    state.me = Object.assign({}, state.me, frame.me);
    if (document.activeElement !== $("status")) $("status").value = frame.me.status;
    var fresh = [];
    state.offers = new Map();
    frame.offers.forEach(function (offer) {
      state.offers.set(offer.id, offer);
      if (state.knownOffers && !state.knownOffers.has(offer.id)) fresh.push(offer);
    });
    state.knownOffers = new Set(frame.offers.map(function (offer) { return offer.id; }));
    state.mine = frame.conversations;
    renderOffers();
    renderMine();
    if (frame.queue) renderQueue(frame.queue);
    fresh.forEach(alertOffer);
  }

  function countdown(node, iso, prefix, overdueText) {
    node.dataset.until = iso;
    node.dataset.prefix = prefix;
    node.dataset.overdue = overdueText;
    tickOne(node);
    return node;
  }

  function tickOne(node) {
    var left = Math.round((Date.parse(node.dataset.until) - (Date.now() + state.skew)) / 1000);
    if (left >= 0) {
      node.textContent = node.dataset.prefix + " " + (left >= 60 ? Math.floor(left / 60) + " min " + (left % 60) + " s" : left + " s");
      node.classList.remove("overdue");
    } else {
      node.textContent = node.dataset.overdue + " " + (-left >= 60 ? Math.floor(-left / 60) + " min" : -left + " s");
      node.classList.add("overdue");
    }
  }

  window.setInterval(function () {
    document.querySelectorAll("[data-until]").forEach(tickOne);
  }, 1000);

  function renderOffers() {
    var list = $("offers");
    clear(list);
    $("offer-count").textContent = String(state.offers.size);
    $("no-offers").hidden = state.offers.size > 0;
    state.offers.forEach(function (offer) {
      var ticket = offer.ticket;
      var item = h("li", { "aria-label": "Offer: " + ticket.channel + ", " + label(ticket.reason) },
        h("div", { class: "meta", text: ticket.channel + " · " + label(ticket.reason) + " · priority " + ticket.priority + (ticket.skill ? " · " + ticket.skill : "") }),
        h("p", { class: "snippet", text: ticket.summary || "No summary." }),
        countdown(h("div", { class: "meta" }), offer.expires_at, "Answer within", "Expired"),
        h("div", { class: "actions" },
          h("button", { type: "button", text: "Accept", onclick: function () { accept(offer); } }),
          h("button", { type: "button", class: "quiet", text: "Decline", onclick: function () { decline(offer); } })
        )
      );
      list.appendChild(item);
    });
  }

  function accept(offer) {
    api("POST", "/offers/" + offer.id + "/accept")
      .then(function (ticket) {
        state.offers.delete(offer.id);
        renderOffers();
        announce("You accepted the conversation.");
        openConversation(ticket.conversation_id);
      })
      .catch(failed("action-error"));
  }

  function decline(offer) {
    api("POST", "/offers/" + offer.id + "/decline", { note: "" })
      .then(function () { state.offers.delete(offer.id); renderOffers(); announce("Offer declined."); })
      .catch(failed("action-error"));
  }

  function renderMine() {
    var list = $("mine");
    clear(list);
    $("mine-count").textContent = String(state.mine.length);
    $("no-mine").hidden = state.mine.length > 0;
    state.mine.forEach(function (item) {
      var ticket = item.ticket;
      var id = ticket.conversation_id;
      var unread = state.unread.has(id);
      var last = item.last_message ? item.last_message.text : "";
      var li = h("li", null,
        h("button", { type: "button", class: "open", "aria-label": "Open conversation on " + ticket.channel + (unread ? ", new messages" : ""), onclick: function () { openConversation(id); } },
          h("div", { class: "meta", text: ticket.channel + " · " + (item.customer || "customer") }),
          h("div", { class: "snippet" + (unread ? " unread" : ""), text: last })
        )
      );
      if (state.open && state.open.conversation.id === id) li.classList.add("active");
      list.appendChild(li);
    });
  }

  function renderQueue(queue) {
    var box = $("queues");
    clear(box);
    var waiting = 0;
    queue.queues.forEach(function (q) {
      waiting += q.waiting.length;
      var list = h("ul");
      q.waiting.forEach(function (t) {
        list.appendChild(h("li", null,
          document.createTextNode(t.channel + " · " + label(t.reason) + " · " + t.state + " · "),
          countdown(h("span"), t.sla_due_at, "SLA in", "SLA breached")
        ));
      });
      box.appendChild(h("section", { class: "queue", "aria-label": "Queue " + (q.team || "without a team") },
        h("h3", { text: (q.team || "No team") + ": " + q.waiting.length + " waiting" + (q.breached ? ", " + q.breached + " past SLA" : "") }),
        list));
    });
    $("no-queues").hidden = waiting > 0;
    var rows = $("agents");
    clear(rows);
    queue.agents.forEach(function (a) {
      var load = Object.keys(a.capacity).map(function (kind) {
        var used = (a.assigned[kind] || 0) + (a.offered[kind] || 0);
        return kind + " " + used + "/" + a.capacity[kind];
      }).join(", ");
      rows.appendChild(h("tr", null, h("td", { text: a.name + " (" + a.role + ")" }), h("td", { text: a.status }), h("td", { text: load || "—" })));
    });
  }

  // One conversation.

  function openConversation(id, keepScroll) {
    return api("GET", "/conversations/" + encodeURIComponent(id))
      .then(function (view) {
        var switching = !state.open || state.open.conversation.id !== id;
        state.open = view;
        state.unread.delete(id);
        renderConversation(view, switching);
        renderMine();
        watch(id);
        if (switching && !keepScroll) $("pane").focus();
      })
      .catch(failed("action-error"));
  }

  function renderConversation(view, switching) {
    var c = view.conversation;
    var a = view.analysis;
    $("pane-title").textContent = "Conversation on " + c.channel + (c.subject ? ": " + c.subject : "");
    $("pane-hint").hidden = true;
    $("conversation").hidden = false;
    $("f-channel").textContent = c.channel;
    $("f-customer").textContent = c.customer || "—";
    renderSender(c);
    var intent = a.intent ? a.intent.name + (a.intent.confidence ? " (" + Math.round(a.intent.confidence * 100) + "%)" : "") : "not detected";
    $("f-intent").textContent = intent + (a.skill ? " · skill " + a.skill : "");
    $("f-sentiment").textContent = a.sentiment ? a.sentiment.label + (a.sentiment.frustration >= 0.5 ? ", frustrated" : "") : "—";
    $("f-reason").textContent = a.escalation ? label(a.escalation.reason) + (a.escalation.detail ? " (" + a.escalation.detail + ")" : "") : "—";
    $("f-ticket").textContent = view.ticket ? view.ticket.state + (view.ticket.agent_id ? " · " + view.ticket.agent_id : "") : "none";
    $("summary").textContent = view.summary || "No summary.";
    if (switching) {
      state.shown = new Set();
      clear($("messages"));
      clear($("suggestions"));
      $("suggest-note").textContent = "";
      $("reply").value = "";
      $("reply-error").textContent = "";
      $("action-error").textContent = "";
    }
    view.messages.forEach(appendMessage);
    var notes = $("notes");
    clear(notes);
    view.notes.forEach(function (n) { notes.appendChild(noteItem(n)); });
    var history = $("history");
    clear(history);
    view.history.forEach(function (e) {
      history.appendChild(h("li", { text: new Date(e.at).toLocaleTimeString() + " " + label(e.kind) + (e.agent_id ? " · " + e.agent_id : "") + (e.team ? " · team " + e.team : "") + (e.note ? " · " + e.note : "") }));
    });
    setDisabled($("reply-form"), !view.can_reply);
    setDisabled($("transfer-form"), !view.can_act);
    setDisabled($("resolve-form"), !view.can_act);
  }

  // Whether the channel authenticated the customer's address (e-mail: DMARC, DKIM or SPF of a trusted server).
  function renderSender(c) {
    var fact = $("f-sender-fact"), dd = $("f-sender");
    clear(dd);
    fact.hidden = c.sender_verified === null || c.sender_verified === undefined;
    if (fact.hidden) return;
    if (c.sender_verified) {
      dd.appendChild(h("span", { class: "badge verified", text: "verified sender" }));
    } else {
      dd.appendChild(h("span", { class: "badge unverified", text: "unverified sender" }));
    }
    if (c.sender_verification) dd.appendChild(h("span", { class: "why", text: " " + c.sender_verification }));
  }

  function setDisabled(form, disabled) {
    Array.prototype.forEach.call(form.elements, function (element) { element.disabled = disabled; });
  }

  var ROLES = { customer: "Customer", agent: "Assistant", human: "Support team", system: "System" };

  function appendMessage(message) {
    if (state.shown.has(message.id)) return;
    state.shown.add(message.id);
    var who = message.role === "human" && message.author ? (message.author === (state.me && state.me.id) ? "You" : message.author) : ROLES[message.role] || message.role;
    var item = h("li", { class: message.role },
      h("span", { class: "role", text: who + " · " + new Date(message.created_at).toLocaleTimeString() }),
      document.createTextNode(message.text));
    if (message.sender_verified === false) {
      item.appendChild(h("span", { class: "badge unverified", title: message.sender_verification || "", text: "unverified sender" + (message.sender_verification ? ": " + message.sender_verification : "") }));
    }
    if (message.original_text && message.original_text !== message.text) {
      item.appendChild(h("span", { class: "original", text: "Original (not redacted): " + message.original_text }));
    }
    if (message.citations && message.citations.length) item.appendChild(citationList(message.citations));
    var list = $("messages");
    list.appendChild(item);
    list.scrollTop = list.scrollHeight;
  }

  function citationList(citations) {
    var list = h("ul", { class: "cites" });
    citations.forEach(function (c) {
      var title = c.title + (c.section ? " › " + c.section : "");
      list.appendChild(h("li", null, c.url && /^https?:\/\//i.test(c.url)
        ? h("a", { href: c.url, target: "_blank", rel: "noopener noreferrer", text: title })
        : h("span", { text: title })));
    });
    return list;
  }

  function noteItem(note) {
    return h("li", { text: note.agent_id + " · " + new Date(note.created_at).toLocaleString() + "\n" + note.text });
  }

  $("suggest-button").addEventListener("click", function () {
    if (!state.open) return;
    var id = state.open.conversation.id;
    $("suggest-note").textContent = "Looking in the knowledge base…";
    api("GET", "/conversations/" + encodeURIComponent(id) + "/suggestions")
      .then(function (found) {
        var list = $("suggestions");
        clear(list);
        if (!found.suggestions.length) {
          $("suggest-note").textContent = found.question ? "The knowledge base has nothing that answers the customer's latest question." : "The customer asked no question the knowledge base could answer.";
          return;
        }
        $("suggest-note").textContent = "For: " + found.question;
        found.suggestions.forEach(function (s, index) {
          list.appendChild(h("li", null,
            h("p", { text: s.text }),
            citationList(s.citations),
            h("button", { type: "button", class: "quiet", text: "Use suggestion " + (index + 1), onclick: function () { useSuggestion(s); } })));
        });
      })
      .catch(failed("suggest-note"));
  });

  function useSuggestion(s) {
    var sources = s.citations.filter(function (c) { return c.url; }).map(function (c) { return c.title + ": " + c.url; });
    $("reply").value = s.text + (sources.length ? "\n\n" + sources.join("\n") : "");
    $("reply").focus();
  }

  $("reply-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!state.open) return;
    var text = $("reply").value.trim();
    if (!text) { $("reply-error").textContent = "Write a reply first."; return; }
    $("reply-error").textContent = "";
    api("POST", "/conversations/" + encodeURIComponent(state.open.conversation.id) + "/replies", { text: text })
      .then(function (message) { $("reply").value = ""; appendMessage(message); announce("Reply sent."); })
      .catch(failed("reply-error"));
  });

  $("note-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!state.open) return;
    var text = $("note").value.trim();
    if (!text) return;
    api("POST", "/conversations/" + encodeURIComponent(state.open.conversation.id) + "/notes", { text: text })
      .then(function (note) { $("note").value = ""; $("notes").appendChild(noteItem(note)); announce("Note added."); })
      .catch(failed("action-error"));
  });

  function loadTeams() {
    api("GET", "/teams").then(function (teams) {
      var select = $("transfer-to");
      clear(select);
      select.appendChild(h("option", { value: "", text: "Choose a team or an agent" }));
      teams.forEach(function (team) {
        var group = h("optgroup", { label: team.name });
        if (team.id) group.appendChild(h("option", { value: "team:" + team.id, text: "Team " + team.name }));
        team.agents.forEach(function (a) {
          if (state.me && a.id === state.me.id) return;
          group.appendChild(h("option", { value: "agent:" + a.id, text: a.name + " (" + a.status + ")" }));
        });
        if (group.children.length) select.appendChild(group);
      });
    }).catch(function () {});
  }

  $("transfer-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!state.open) return;
    var target = $("transfer-to").value;
    if (!target) { $("action-error").textContent = "Choose where to transfer the conversation."; return; }
    var body = { note: $("transfer-note").value.trim() };
    body[target.indexOf("team:") === 0 ? "to_team" : "to_agent"] = target.slice(target.indexOf(":") + 1);
    api("POST", "/conversations/" + encodeURIComponent(state.open.conversation.id) + "/transfer", body)
      .then(function () { $("transfer-note").value = ""; announce("Conversation transferred."); openConversation(state.open.conversation.id, true); })
      .catch(failed("action-error"));
  });

  $("resolve-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!state.open) return;
    var reason = $("resolve-reason").value.trim();
    if (!reason) { $("action-error").textContent = "Say why the conversation is resolved."; return; }
    api("POST", "/conversations/" + encodeURIComponent(state.open.conversation.id) + "/resolve", { reason: reason })
      .then(function () { $("resolve-reason").value = ""; announce("Conversation resolved."); openConversation(state.open.conversation.id, true); })
      .catch(failed("action-error"));
  });

  // Start.

  api("GET", "/me").then(signedIn).catch(function (error) {
    showSignIn(error.status === 401 ? "" : error.message);
  });
  updateNotifyButton();
})();

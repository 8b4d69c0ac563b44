// The admin's Live monitor: one WebSocket per campaign section (analytics/consumers.py).
// Messages: snapshot, then call (a call met for the first time), event and counters. On a lost
// connection the page reconnects with ?after=<last event id> and gets only what it missed.
(function () {
  "use strict";
  const root = document.getElementById("live-monitor");
  if (!root) return;
  const labels = JSON.parse(document.getElementById("live-monitor-labels").textContent);
  const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  const ENDED_KEPT_MS = 60000; // an ended call stays on screen this long
  const QUIET_KINDS = new Set(["state", "metrics"]); // recorded, but noise on a live screen

  function label(group, value) {
    return (labels[group] && labels[group][value]) || value || "";
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function Monitor(section) {
    this.section = section;
    this.calls = new Map(); // call id -> {card, status, transcript}
    this.lastId = 0;
    this.retry = 500;
    this.connect();
  }

  Monitor.prototype.part = function (role) {
    return this.section.querySelector('[data-role="' + role + '"]');
  };

  Monitor.prototype.connect = function () {
    const self = this;
    const url = scheme + window.location.host + this.section.dataset.socket + (this.lastId ? "?after=" + this.lastId : "");
    const socket = new WebSocket(url);
    socket.addEventListener("open", function () {
      self.retry = 500;
      self.setConnection(labels.live, "live");
    });
    socket.addEventListener("message", function (message) {
      self.receive(JSON.parse(message.data));
    });
    socket.addEventListener("close", function (event) {
      const refused = labels.refused[String(event.code)];
      if (refused) {
        self.setConnection(refused, "refused");
        return;
      }
      self.setConnection(labels.reconnecting, "lost");
      window.setTimeout(function () { self.connect(); }, self.retry);
      self.retry = Math.min(self.retry * 2, 10000);
    });
  };

  Monitor.prototype.setConnection = function (text, state) {
    const node = this.part("connection");
    node.textContent = text;
    node.dataset.state = state;
  };

  Monitor.prototype.receive = function (message) {
    if (message.type === "snapshot") {
      if (!message.resumed) this.clear();
      this.part("campaign-status").textContent = label("status", message.campaign.status);
      this.counters(message.counters);
      for (const call of message.calls) {
        this.upsert(call);
        for (const event of call.events) this.event(event, true);
      }
      this.lastId = Math.max(this.lastId, message.last_event || 0);
    } else if (message.type === "call") {
      this.upsert(message.call);
    } else if (message.type === "event") {
      this.event(message);
    } else if (message.type === "counters") {
      this.counters(message.counters);
    }
    this.part("empty").hidden = this.calls.size > 0;
  };

  Monitor.prototype.clear = function () {
    this.calls.clear();
    this.part("calls").textContent = "";
  };

  Monitor.prototype.upsert = function (call) {
    let entry = this.calls.get(call.id);
    if (!entry) {
      const card = element("article", "call");
      card.dataset.call = call.id;
      const head = element("header");
      head.append(element("strong", "phone"), element("span", "name"), element("span", "status"), element("span", "step"));
      const transcript = element("div", "transcript");
      card.append(head, transcript);
      this.part("calls").append(card);
      entry = { card: card, transcript: transcript };
      this.calls.set(call.id, entry);
    }
    if (call.phone) entry.card.querySelector(".phone").textContent = call.phone;
    if (call.name) entry.card.querySelector(".name").textContent = call.name;
    if (call.status) this.setStatus(entry, call.status, call.outcome);
    if (call.last_step) entry.card.querySelector(".step").textContent = call.last_step;
    return entry;
  };

  Monitor.prototype.setStatus = function (entry, status, outcome) {
    const node = entry.card.querySelector(".status");
    node.textContent = status === "ended" && outcome ? label("outcome", outcome) : label("status", status);
    entry.card.dataset.status = status;
    if (status === "ended" && !entry.leaving) {
      const self = this;
      entry.leaving = window.setTimeout(function () { self.forget(entry); }, ENDED_KEPT_MS);
    }
  };

  Monitor.prototype.forget = function (entry) {
    entry.card.remove();
    this.calls.delete(Number(entry.card.dataset.call));
    this.part("empty").hidden = this.calls.size > 0;
  };

  // A snapshot's events are replayed over the call's state, which already says where it stands.
  Monitor.prototype.event = function (event, replayed) {
    this.lastId = Math.max(this.lastId, event.id);
    const entry = this.calls.get(event.call) || this.upsert({ id: event.call });
    if (!replayed && event.kind === "call_started") this.setStatus(entry, "dialing");
    if (!replayed && event.kind === "answered") this.setStatus(entry, "in_progress");
    if (event.kind === "call_ended") this.setStatus(entry, "ended", event.outcome);
    if (event.kind === "step" && event.data && event.data.step) entry.card.querySelector(".step").textContent = event.data.step;
    if (QUIET_KINDS.has(event.kind)) return;
    let line;
    if (event.kind === "transcript") {
      line = element("p", "line " + (event.role || "system"), event.text);
      line.title = label("role", event.role);
    } else {
      const detail = event.kind === "call_ended" ? label("outcome", event.outcome) : event.text || (event.data && event.data.step) || "";
      line = element("p", "line note " + event.kind, label("kind", event.kind) + (detail ? ": " + detail : ""));
    }
    line.dataset.event = event.id;
    entry.transcript.append(line);
    entry.transcript.scrollTop = entry.transcript.scrollHeight;
  };

  Monitor.prototype.counters = function (counters) {
    if (!counters) return;
    this.section.querySelectorAll("[data-counter]").forEach(function (node) {
      const value = node.dataset.counter.split(".").reduce(function (object, key) { return object && object[key]; }, counters);
      node.textContent = value === undefined ? "—" : value;
    });
    if (counters.campaign_status) this.part("campaign-status").textContent = label("status", counters.campaign_status);
    const list = this.part("outcomes");
    list.textContent = "";
    Object.keys(counters.ended).sort().forEach(function (outcome) {
      const item = element("li", "outcome", label("outcome", outcome) + " ");
      item.dataset.outcome = outcome;
      item.append(element("b", "", String(counters.ended[outcome])));
      list.append(item);
    });
  };

  root.querySelectorAll("section[data-socket]").forEach(function (section) { new Monitor(section); });
})();

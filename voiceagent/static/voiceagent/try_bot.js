(function () {
  "use strict";
  const root = document.getElementById("try-bot");
  if (!root) return;
  const transcript = document.getElementById("transcript");
  const sayForm = document.getElementById("say");
  const sayText = document.getElementById("say-text");
  const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  let socket = null;

  function add(kind, text, extra) {
    const line = document.createElement("div");
    line.className = "line " + kind;
    line.textContent = text;
    if (extra) { const note = document.createElement("span"); note.className = "interrupted"; note.textContent = " " + extra; line.appendChild(note); }
    transcript.appendChild(line);
    transcript.scrollTop = transcript.scrollHeight;
  }

  function enable(on) {
    sayText.disabled = !on;
    sayForm.querySelector("button").disabled = !on;
    if (on) sayText.focus();
  }

  function showState(state) {
    document.getElementById("state-step").textContent = state.step;
    document.getElementById("state-steps").textContent = state.steps.join(" → ");
    document.getElementById("state-collected").textContent = Object.keys(state.collected).length ? JSON.stringify(state.collected, null, 2) : "—";
    document.getElementById("state-outcome").textContent = state.outcome || "—";
    if (state.ended) { add("ended", "☎ " + (state.outcome || "ended")); enable(false); }
  }

  function onMessage(event) {
    const message = JSON.parse(event.data);
    if (message.type === "error") { add("error", message.message); return; }
    for (const line of message.lines) {
      if (line.kind === "say" && line.text) add("bot", line.text, line.interrupted ? "(interrupted)" : "");
      if (line.kind === "tool") add("tool", line.tool + "(" + JSON.stringify(line.arguments) + ")");
    }
    showState(message.state);
  }

  document.getElementById("contact").addEventListener("submit", function (event) {
    event.preventDefault();
    const variables = {};
    root.querySelectorAll("[data-variable]").forEach(function (input) { if (input.value) variables[input.name] = input.value; });
    if (socket) socket.close();
    transcript.textContent = "";
    const current = new WebSocket(scheme + window.location.host + root.dataset.socket);
    socket = current;
    current.addEventListener("open", function () { current.send(JSON.stringify({ type: "start", variables: variables })); enable(true); });
    current.addEventListener("message", onMessage);
    // A replaced socket closing late must not disable the new conversation's input.
    current.addEventListener("close", function () { if (socket === current) enable(false); });
  });

  sayForm.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    add("you", sayText.value);
    socket.send(JSON.stringify({ type: "say", text: sayText.value }));
    sayText.value = "";
  });
})();

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

  // By voice: the microphone goes to the server as 16-bit PCM at 16 kHz, the bot's audio comes back
  // the same way and is played as it arrives.
  const RATE = 16000;
  const voice = { context: null, stream: null, next: 0, received: 0, sent: 0, loudest: 0 };
  window.tryBotVoice = voice; // what was sent and heard, for whoever watches the page

  function stopVoice() {
    if (voice.stream) voice.stream.getTracks().forEach(function (track) { track.stop(); });
    if (voice.context) voice.context.close();
    voice.stream = voice.context = null;
    document.getElementById("voice-status").textContent = "";
  }

  function playBot(buffer) {
    if (!voice.context) return;
    const samples = new Int16Array(buffer);
    const audio = voice.context.createBuffer(1, samples.length, RATE);
    const channel = audio.getChannelData(0);
    for (let i = 0; i < samples.length; i++) channel[i] = samples[i] / 32768;
    const source = voice.context.createBufferSource();
    source.buffer = audio;
    source.connect(voice.context.destination);
    voice.next = Math.max(voice.next, voice.context.currentTime + 0.05);
    source.start(voice.next);
    voice.next += audio.duration;
    voice.received += samples.length;
  }

  async function startMicrophone(current) {
    try {
      voice.stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true, channelCount: 1 } });
    } catch (error) {
      add("error", root.dataset.noMicrophone);
      return false;
    }
    voice.context = new AudioContext({ sampleRate: RATE });
    const input = voice.context.createMediaStreamSource(voice.stream);
    const capture = voice.context.createScriptProcessor(2048, 1, 1);
    capture.onaudioprocess = function (event) {
      if (current.readyState !== WebSocket.OPEN) return;
      const data = event.inputBuffer.getChannelData(0);
      const pcm = new Int16Array(data.length);
      for (let i = 0; i < data.length; i++) {
        pcm[i] = Math.max(-1, Math.min(1, data[i])) * 32767;
        if (Math.abs(pcm[i]) > voice.loudest) voice.loudest = Math.abs(pcm[i]);
      }
      current.send(pcm.buffer);
      voice.sent += pcm.length;
    };
    const mute = voice.context.createGain();
    mute.gain.value = 0; // the processor must reach the output to run; nobody should hear themselves
    input.connect(capture);
    capture.connect(mute);
    mute.connect(voice.context.destination);
    document.getElementById("voice-status").textContent = root.dataset.listening;
    return true;
  }

  function onMessage(event) {
    if (event.data instanceof ArrayBuffer) { playBot(event.data); return; }
    const message = JSON.parse(event.data);
    if (message.type === "error") { add("error", message.message); return; }
    for (const line of message.lines || []) {
      if (line.kind === "say" && line.text) add("bot", line.text, line.interrupted ? "(interrupted)" : "");
      if (line.kind === "heard") add("you heard", line.text || "…", root.dataset.heard);
      if (line.kind === "tool") add("tool", line.tool + "(" + JSON.stringify(line.arguments) + ")");
    }
    showState(message.state);
    if (message.state && message.state.ended) stopVoice();
  }

  function start(byVoice) {
    const variables = {};
    root.querySelectorAll("[data-variable]").forEach(function (input) { if (input.value) variables[input.name] = input.value; });
    if (socket) socket.close();
    stopVoice();
    transcript.textContent = "";
    const current = new WebSocket(scheme + window.location.host + root.dataset.socket);
    current.binaryType = "arraybuffer";
    socket = current;
    current.addEventListener("open", async function () {
      if (byVoice && !(await startMicrophone(current))) { current.close(); return; }
      current.send(JSON.stringify({ type: "start", variables: variables, audio: byVoice }));
      enable(!byVoice);
    });
    current.addEventListener("message", onMessage);
    // A replaced socket closing late must not disable the new conversation's input.
    current.addEventListener("close", function () { if (socket === current) { enable(false); stopVoice(); } });
  }

  document.getElementById("contact").addEventListener("submit", function (event) {
    event.preventDefault();
    start(false);
  });
  document.getElementById("start-voice").addEventListener("click", function () { start(true); });

  sayForm.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    add("you", sayText.value);
    socket.send(JSON.stringify({ type: "say", text: sayText.value }));
    sayText.value = "";
  });
})();

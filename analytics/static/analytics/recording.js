// The call page: clicking (or Enter on) a line of the conversation plays the recording from it.
"use strict";
(function () {
  const audio = document.getElementById("call-recording");
  if (!audio) return;
  function playFrom(line) {
    const at = parseFloat(line.dataset.at);
    if (Number.isNaN(at)) return;
    audio.currentTime = at;
    audio.play().catch(function () {}); // a browser may refuse to play before a user gesture
    document.querySelectorAll(".line.playing").forEach(function (other) { other.classList.remove("playing"); });
    line.classList.add("playing");
  }
  document.querySelectorAll(".line.seekable").forEach(function (line) {
    line.addEventListener("click", function () { playFrom(line); });
    line.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); playFrom(line); }
    });
  });
})();

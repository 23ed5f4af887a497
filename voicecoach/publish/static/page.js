// voicecoach class page: the level switch changes the player's file and chapter list;
// a chapter button jumps there and plays; the chapter playing is marked for screen readers too.
"use strict";

function setUpSession(section) {
  const audio = section.querySelector("audio");
  const panels = Array.from(section.querySelectorAll(".level-panel"));
  if (!audio || panels.length === 0) return;

  const visiblePanel = () => panels.find((p) => !p.hidden) || panels[0];
  const startsOf = (panel) =>
    Array.from(panel.querySelectorAll("button.chapter")).map((b) => Number(b.dataset.start));

  function chapterIndexAt(panel, time) {
    const starts = startsOf(panel);
    let index = 0;
    starts.forEach((start, i) => { if (time >= start) index = i; });
    return index;
  }

  function markCurrent() {
    const panel = visiblePanel();
    const index = chapterIndexAt(panel, audio.currentTime);
    panel.querySelectorAll("button.chapter").forEach((b, i) => {
      if (i === index && (audio.currentTime > 0 || !audio.paused)) b.setAttribute("aria-current", "true");
      else b.removeAttribute("aria-current");
    });
  }

  function jump(time, play) {
    const go = () => {
      audio.currentTime = time;
      if (play) audio.play().catch(() => {});
    };
    if (audio.readyState >= 1) go();
    else {
      audio.addEventListener("loadedmetadata", go, { once: true });
      audio.load();
    }
  }

  function showLevel(level) {
    const old = visiblePanel();
    const next = panels.find((p) => p.dataset.level === level);
    if (!next || next === old) return;
    // keep the listener's place: the same chapter at the new level
    const index = chapterIndexAt(old, audio.currentTime);
    const wasPlaying = !audio.paused;
    const started = audio.currentTime > 0;
    panels.forEach((p) => { p.hidden = p !== next; });
    audio.src = next.dataset.src;
    if (started || wasPlaying) jump(startsOf(next)[index] || 0, wasPlaying);
    markCurrent();
  }

  section.querySelectorAll('.levels input[type="radio"]').forEach((radio) => {
    radio.addEventListener("change", () => { if (radio.checked) showLevel(radio.value); });
  });
  panels.forEach((panel) => {
    panel.querySelectorAll("button.chapter").forEach((button) => {
      button.addEventListener("click", () => jump(Number(button.dataset.start), true));
    });
  });
  audio.addEventListener("timeupdate", markCurrent);
  audio.addEventListener("seeked", markCurrent);
  // one session plays at a time
  audio.addEventListener("play", () => {
    document.querySelectorAll("audio").forEach((other) => { if (other !== audio) other.pause(); });
  });
}

document.querySelectorAll("section.session").forEach(setUpSession);

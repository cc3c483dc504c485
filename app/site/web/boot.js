// Runs before the page paints: with a kept session, the prerendered page shows
// the wall's placeholder rather than the welcome, so nothing flips when the
// app starts.
try {
  if (localStorage.getItem("postwall.tokens")) {
    document.documentElement.classList.add("pw-session");
  }
} catch (e) { /* storage blocked: the welcome it is */ }

// Runs before the page paints: with a kept session, the prerendered page shows
// the wall's placeholder rather than the welcome, so nothing flips when the
// app starts.
try {
  if (localStorage.getItem("postwall.tokens")) {
    document.documentElement.classList.add("pw-session");
  }
} catch (e) { /* storage blocked: the welcome it is */ }

// With a kept session, paint the first kept posts as soon as the page is
// parsed, before the deferred scripts and the first paint, in the wall's own
// markup (text through textContent only): the largest paint then does not
// wait for app.wasm, which replaces them when it starts.
document.addEventListener("readystatechange", function () {
  if (document.readyState !== "interactive") return;
  try {
    if (!document.documentElement.classList.contains("pw-session")) return;
    var posts = JSON.parse(localStorage.getItem("postwall.feed") || "[]");
    var wall = document.querySelector(".pw-wall.pw-when-session");
    if (!wall || !posts.length) return;
    wall.querySelectorAll(".pw-skeleton:not(.pw-skeleton-composer)").forEach(function (e) { e.remove(); });
    var sec = document.createElement("section");
    sec.className = "pw-feed";
    var ul = document.createElement("ul");
    ul.className = "pw-list";
    ul.id = "pw-posts";
    posts.slice(0, 8).forEach(function (p) {
      var li = document.createElement("li");
      li.className = "pw-card pw-post";
      var head = document.createElement("div");
      head.className = "pw-post-head";
      var a = document.createElement("span");
      a.className = "pw-author";
      a.dir = "auto";
      a.textContent = p.author;
      head.append(a);
      li.append(head);
      var t = document.createElement("p");
      t.className = "pw-text";
      t.dir = "auto";
      t.textContent = p.text;
      li.append(t);
      var act = document.createElement("div");
      act.className = "pw-post-actions";
      li.append(act);
      ul.append(li);
    });
    sec.append(ul);
    wall.append(sec);
  } catch (e) { /* the skeleton it is */ }
});

// No Go code runs before the prerendered page has painted: app.js fetches
// app.wasm at once (the download is not delayed), but its compile and start
// wait for the first frame, so a busy CPU cannot hold the first paint back.
(function () {
  var orig = WebAssembly.instantiateStreaming;
  if (!orig) return;
  var painted = new Promise(function (resolve) {
    requestAnimationFrame(function () { setTimeout(resolve, 0); });
  });
  WebAssembly.instantiateStreaming = function (source, imports) {
    return painted.then(function () { return orig.call(WebAssembly, source, imports); });
  };
})();

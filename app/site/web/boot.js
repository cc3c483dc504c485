// Runs before the page paints: with a kept session, the prerendered page shows
// the wall's placeholder rather than the welcome, so nothing flips when the
// app starts.
try {
  if (localStorage.getItem("postwall.tokens")) {
    document.documentElement.classList.add("pw-session");
  }
} catch (e) { /* storage blocked: the welcome it is */ }

// With a kept session, paint the first kept posts as soon as the page is
// parsed, before the deferred scripts and the first paint: the largest paint
// then does not wait for app.wasm, which replaces them when it starts. The
// markup is the post list's own (app/ui post_list.go newNode), so nothing
// moves when it does; text goes in through textContent only.
document.addEventListener("readystatechange", function () {
  if (document.readyState !== "interactive") return;
  try {
    if (!document.documentElement.classList.contains("pw-session")) return;
    var posts = JSON.parse(localStorage.getItem("postwall.feed") || "[]");
    var wall = document.querySelector(".pw-wall.pw-when-session");
    if (!wall || !posts.length) return;
    var el = function (tag, cls, text) {
      var e = document.createElement(tag);
      if (cls) e.className = cls;
      if (text) e.textContent = text;
      return e;
    };
    var ago = function (iso) {
      var d = (Date.now() - Date.parse(iso)) / 1000;
      if (!(d >= 0) || d < 45) return "just now";
      if (d < 3600) return Math.max(1, Math.round(d / 60)) + " min ago";
      if (d < 86400) return Math.floor(d / 3600) + " h ago";
      if (d < 604800) return Math.floor(d / 86400) + " d ago";
      return new Date(iso).toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
    };
    var initial = function (name) {
      var m = /[\p{L}\p{N}]/u.exec(name);
      return (m ? m[0] : name.charAt(0)).toUpperCase();
    };
    var long = function (t) {
      return t.split("\n").length - 1 >= 12 || Array.from(t).length > 700;
    };
    wall.querySelectorAll(".pw-skeleton:not(.pw-skeleton-composer)").forEach(function (e) { e.remove(); });
    var ul = el("ul", "pw-list");
    ul.id = "pw-posts";
    posts.slice(0, 8).forEach(function (p) {
      var li = el("li", "pw-card pw-post");
      var head = el("div", "pw-post-head");
      var pic = el("span", "pw-avatar pw-avatar-initial", initial(p.author));
      pic.setAttribute("aria-hidden", "true");
      var author = el("a", "pw-author", p.author);
      author.href = "/u/" + p.author;
      author.dir = "auto";
      var time = el("time", "pw-time", ago(p.createdAt));
      head.append(pic, author, el("span", "pw-handle"), time);
      li.append(head);
      var text = el("p", "pw-text", p.text);
      text.dir = "auto";
      li.append(text);
      if (long(p.text)) {
        text.classList.add("pw-clamped");
        li.append(el("button", "pw-more", "Show more"));
      }
      var images = p.images || [];
      if (images.length) {
        var box = el("div", "pw-images pw-images-" + images.length);
        images.forEach(function (im) {
          var b = el("button", "pw-image");
          var img = el("img");
          img.alt = im.alt;
          img.width = Math.max(im.width, 1);
          img.height = Math.max(im.height, 1);
          img.src = im.url;
          b.append(img);
          box.append(b);
        });
        li.append(box);
      }
      var row = el("div", "pw-post-actions");
      var like = el("button", "pw-button pw-quiet pw-like");
      var heart = el("span", "pw-like-icon", "♥");
      heart.setAttribute("aria-hidden", "true");
      like.append(heart, el("span", "pw-like-count", String(p.likeCount || 0)));
      row.append(like, el("a", "pw-button pw-quiet pw-reply", p.replyCount > 0 ? "Reply · " + p.replyCount : "Reply"));
      li.append(row);
      ul.append(li);
    });
    var sec = el("section", "pw-feed");
    var list = el("div", "pw-posts");
    list.append(el("div", "pw-new-region"), ul);
    sec.append(el("div", "pw-feed-notices"), list);
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

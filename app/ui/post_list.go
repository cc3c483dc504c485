package ui

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/postwall/postwall/backend/wall"
)

const (
	postListID   = "pw-posts"
	listStatusID = "pw-list-status"
	// undoFor is how long a delete can be taken back before it is sent.
	undoFor = 5 * time.Second
	// deleteGiveUp: a delete that the server has not answered by then shows
	// the post again (the refusal, if any, is in the notice).
	deleteGiveUp = 15 * time.Second
)

// Long posts are clamped, with "Show more": more lines or characters than
// these (a post of 499 newlines would be 6,000 px tall).
const (
	clampLines = 12
	clampRunes = 700
)

// nodeBatch is how many post nodes one task makes: about 3 ms each on a
// phone-class CPU, so a batch stays under the 50 ms of a long task.
const nodeBatch = 6

// postList shows the posts, keyed by post id. go-app matches a list's items
// by position, so a post arriving on top rewrote every item in place and a
// focused Delete button came to belong to another post. Here each post keeps
// its own node (and the focus in it) for as long as it is shown: new nodes are
// only inserted and gone ones removed, never moved or reused.
//
// New posts above the reading position wait behind an "N new posts" pill
// instead of pushing the page down; at the top of the list they show at once.
type postList struct {
	app.Compo

	Posts []wall.Post
	// Users are the authors looked up so far: names and avatars show as
	// they arrive.
	Users map[string]wall.User
	Me    string
	Now   time.Time
	Admin bool // may delete every post
	// ListID names the list (several may share a page); "" is the wall's.
	ListID string
	// InThread: the posts are a thread, oldest first. Nothing waits behind
	// the pill, and Reply links do not lead to the thread already shown.
	InThread bool
	Label    string // the list's accessible name

	nodes   map[string]*postNode
	held    int  // posts waiting behind the pill
	reveal  bool // show the held posts at the next reconcile
	clicks  app.Func
	scrolls app.Func

	batchQueued bool // the next batch of a long list's nodes is scheduled
}

// postNode is one post's element and what was last written into it.
type postNode struct {
	post    wall.Post
	li      app.Value
	time    app.Value
	like    app.Value // the Like button
	likes   app.Value // its count
	replies app.Value // the replies count; null when not shown
	pic     app.Value // the author's avatar, or initial
	author  app.Value // the author's name, a link to their profile
	handle  app.Value // @username, when a display name is shown
	shown   wall.User // what pic, author and handle show
	timeTxt string
	state   int // postShown, postUndo or postDeleting
	gen     int // counts delete attempts, so a stale timer does nothing
}

const (
	postShown = iota
	postUndo
	postDeleting
)

func (l *postList) Render() app.UI {
	return app.Div().Class("pw-posts").Body(
		// The region exists before the pill does, so its text is announced.
		app.Div().Class("pw-new-region").Aria("live", "polite").Body(
			app.If(l.held > 0, func() app.UI {
				return app.Button().ID("pw-new-pill").Class("pw-button pw-new-pill").Type("button").
					Text(newPostsLabel(l.held)).
					OnClick(func(ctx app.Context, e app.Event) {
						l.reveal = true
						l.reconcile(ctx)
					})
			}),
		),
		app.P().ID(l.statusID()).Class("pw-visually-hidden").Aria("live", "polite"),
		app.Ul().ID(l.listID()).Class("pw-list").Aria("label", l.Label),
	)
}

func (l *postList) listID() string {
	if l.ListID == "" {
		return postListID
	}
	return l.ListID
}

func (l *postList) statusID() string {
	if l.ListID == "" {
		return listStatusID
	}
	return l.ListID + "-status"
}

func newPostsLabel(n int) string {
	if n == 1 {
		return "1 new post"
	}
	return strconv.Itoa(n) + " new posts"
}

func (l *postList) OnMount(ctx app.Context) {
	l.nodes = map[string]*postNode{}
	if !app.IsClient {
		return
	}
	// One listener for every button in the list.
	l.clicks = app.FuncOf(func(this app.Value, args []app.Value) any {
		btn := args[0].Get("target").Call("closest", "button[data-action]")
		if !btn.Truthy() {
			return nil
		}
		action := btn.Call("getAttribute", "data-action").String()
		id := btn.Call("closest", "li").Call("getAttribute", "data-id").String()
		if action == "image" {
			i, _ := strconv.Atoi(btn.Call("getAttribute", "data-index").String())
			ctx.Dispatch(func(ctx app.Context) { l.showImage(id, i, btn) })
			return nil
		}
		ctx.Dispatch(func(ctx app.Context) { l.onButton(ctx, action, id) })
		return nil
	})
	l.scrolls = app.FuncOf(func(this app.Value, args []app.Value) any {
		if app.Window().Get("scrollY").Float() < 400 {
			ctx.Dispatch(func(ctx app.Context) {
				if l.held > 0 && l.atTop() {
					l.reconcile(ctx)
				}
			})
		}
		return nil
	})
	ctx.Defer(func(ctx app.Context) {
		if ul := l.ul(); ul.Truthy() {
			ul.Call("addEventListener", "click", l.clicks)
		}
		app.Window().Call("addEventListener", "scroll", l.scrolls, map[string]any{"passive": true})
		l.reconcile(ctx)
	})
}

func (l *postList) OnUpdate(ctx app.Context) {
	ctx.Defer(l.reconcile)
}

func (l *postList) OnDismount() {
	if l.scrolls != nil {
		app.Window().Call("removeEventListener", "scroll", l.scrolls)
		l.scrolls.Release()
	}
	if l.clicks != nil {
		l.clicks.Release()
	}
	l.nodes = nil
}

func (l *postList) ul() app.Value { return app.Window().GetElementByID(l.listID()) }

// atTop reports whether the top of the list is in view below the header: new
// posts inserted there push nothing the reader is in the middle of.
func (l *postList) atTop() bool {
	ul := l.ul()
	if !ul.Truthy() {
		return true
	}
	headerBottom := 0.0
	if h := app.Window().Get("document").Call("querySelector", ".pw-header"); h.Truthy() {
		headerBottom = h.Call("getBoundingClientRect").Get("bottom").Float()
	}
	return ul.Call("getBoundingClientRect").Get("top").Float() >= headerBottom-1
}

// reconcile brings the list's nodes in line with l.Posts.
func (l *postList) reconcile(ctx app.Context) {
	ul := l.ul()
	if !app.IsClient || !ul.Truthy() || l.nodes == nil {
		return
	}
	doc := app.Window().Get("document")
	active := doc.Get("activeElement")

	present := make(map[string]bool, len(l.Posts))
	for _, p := range l.Posts {
		present[p.ID] = true
	}
	// Removed posts go; focus inside one moves to the post that took its place.
	var lostFocus bool
	var lostAt string
	for id, n := range l.nodes {
		if present[id] {
			continue
		}
		if active.Truthy() && n.li.Call("contains", active).Bool() {
			lostFocus, lostAt = true, id
		}
		n.li.Call("remove")
		delete(l.nodes, id)
	}

	// Posts newer than the newest shown wait while the reader is further down.
	newestShown := ""
	for _, p := range l.Posts {
		if l.nodes[p.ID] != nil {
			newestShown = p.ID
			break
		}
	}
	hold := !l.InThread && newestShown != "" && !l.reveal && !l.atTop()
	held := 0
	show := l.Posts
	if hold {
		for held < len(l.Posts) && l.Posts[held].ID > newestShown {
			held++
		}
		show = l.Posts[held:]
	}
	revealed := l.reveal && l.held > 0
	l.reveal = false

	// Many missing nodes (the first render of a kept feed, a page of older
	// posts) are made a few at a time from the top, each batch its own task,
	// so no single task blocks the page for long.
	cut, missing := len(show), 0
	for i, p := range show {
		if l.nodes[p.ID] == nil {
			if missing++; missing > nodeBatch {
				cut = i
				break
			}
		}
	}

	// Insert from the oldest up: each new node goes before the next older one,
	// which is already in place. Existing nodes never move.
	var ref app.Value = app.Null()
	var focusAfterLoss app.Value
	for i := len(show) - 1; i >= 0; i-- {
		p := show[i]
		n := l.nodes[p.ID]
		if n == nil && i >= cut {
			continue // a later batch; ref stays the next older node in place
		}
		if n == nil {
			n = l.newNode(p)
			l.nodes[p.ID] = n
			ul.Call("insertBefore", n.li, ref)
		}
		if u := l.Users[p.Author]; u.Avatar != n.shown.Avatar || u.DisplayName != n.shown.DisplayName {
			l.showAuthor(n, u)
		}
		if n.post.LikeCount != p.LikeCount || n.post.Liked != p.Liked || n.post.ReplyCount != p.ReplyCount {
			n.post = p
			l.showCounts(n)
		}
		if txt := RelativeTime(p.CreatedAt, l.Now); txt != n.timeTxt {
			n.timeTxt = txt
			n.time.Set("textContent", txt)
		}
		if lostFocus && p.ID < lostAt && focusAfterLoss == nil {
			focusAfterLoss = n.li // the next older post
		}
		ref = n.li
	}
	if lostFocus {
		for i := len(show) - 1; focusAfterLoss == nil && i >= 0; i-- {
			if n := l.nodes[show[i].ID]; n != nil {
				focusAfterLoss = n.li
			}
		}
		if focusAfterLoss != nil {
			focusAfterLoss.Call("focus", map[string]any{"preventScroll": true})
		}
	}
	if revealed && len(show) > 0 {
		// The reader asked for the new posts: take them to the newest.
		first := l.nodes[show[0].ID].li
		first.Call("focus", map[string]any{"preventScroll": true})
		ul.Call("scrollIntoView", map[string]any{"block": "start"})
		app.Window().Call("scrollBy", 0, -l.headerHeight())
	}
	if held != l.held {
		l.held = held
		ctx.Update()
	}
	if cut < len(show) && !l.batchQueued {
		// One chain of batches: OnUpdate reconciles too, and must not start
		// another.
		l.batchQueued = true
		ctx.After(time.Millisecond, func(ctx app.Context) {
			l.batchQueued = false
			l.reconcile(ctx)
		})
	}
}

func (l *postList) headerHeight() float64 {
	if h := app.Window().Get("document").Call("querySelector", ".pw-header"); h.Truthy() {
		return h.Call("getBoundingClientRect").Get("height").Float() + 12
	}
	return 0
}

func element(tag, class string) app.Value {
	e := app.Window().Get("document").Call("createElement", tag)
	if class != "" {
		e.Set("className", class)
	}
	return e
}

// newNode builds one post's element. Every text people wrote goes in as a
// text node (textContent): it is shown, never interpreted.
func (l *postList) newNode(p wall.Post) *postNode {
	li := element("li", "pw-card pw-post")
	li.Set("id", "post-"+p.ID)
	li.Call("setAttribute", "data-id", p.ID)
	li.Set("tabIndex", -1) // focus goes here when its neighbour is deleted

	head := element("div", "pw-post-head")
	u := l.Users[p.Author]
	pic := avatarNode(u, p.Author, avatarSmall)
	author := element("a", "pw-author")
	author.Set("href", profilePath(p.Author))
	author.Set("dir", "auto")
	handle := element("span", "pw-handle")
	head.Call("append", pic, author, handle)
	tm := element("time", "pw-time")
	tm.Call("setAttribute", "datetime", wall.FormatTime(p.CreatedAt))
	tm.Set("title", exactTime(p.CreatedAt))
	head.Call("append", tm)
	if p.Author == l.Me || l.Admin {
		btn := element("button", "pw-button pw-quiet pw-delete")
		btn.Set("type", "button")
		btn.Call("setAttribute", "data-action", "delete")
		btn.Call("setAttribute", "aria-label", "Delete "+l.postName(p))
		btn.Set("textContent", "Delete")
		head.Call("append", btn)
	}
	li.Call("append", head)

	text := element("p", "pw-text")
	text.Set("id", "post-text-"+p.ID)
	text.Set("dir", "auto")
	appendRichText(text, p.Text)
	li.Call("append", text)
	if isLong(p.Text) {
		text.Get("classList").Call("add", "pw-clamped")
		more := element("button", "pw-more")
		more.Set("type", "button")
		more.Call("setAttribute", "data-action", "more")
		more.Call("setAttribute", "aria-expanded", "false")
		more.Call("setAttribute", "aria-controls", "post-text-"+p.ID)
		more.Set("textContent", "Show more")
		li.Call("append", more)
	}
	if images := imagesNode(p); images.Truthy() {
		li.Call("append", images)
	}

	n := &postNode{post: p, li: li, time: tm, replies: app.Null(), pic: pic, author: author, handle: handle}
	l.writeAuthor(n, u)
	li.Call("append", l.actionsRow(n))

	undo := element("div", "pw-undo")
	msg := element("span", "pw-undo-text")
	undo.Call("append", msg)
	ub := element("button", "pw-button pw-quiet")
	ub.Set("type", "button")
	ub.Call("setAttribute", "data-action", "undo")
	ub.Call("setAttribute", "aria-label", "Undo: keep "+l.postName(p))
	ub.Set("textContent", "Undo")
	undo.Call("append", ub)
	li.Call("append", undo)
	l.showCounts(n)
	return n
}

// postName names a post in labels and messages.
func (l *postList) postName(p wall.Post) string {
	if p.Author == l.Me {
		return "your post “" + excerpt(p.Text) + "”"
	}
	return p.Author + "’s post “" + excerpt(p.Text) + "”"
}

// actionsRow is Like, Reply (with the replies count) and Report.
func (l *postList) actionsRow(n *postNode) app.Value {
	p := n.post
	row := element("div", "pw-post-actions")
	like := element("button", "pw-button pw-quiet pw-like")
	like.Set("type", "button")
	like.Call("setAttribute", "data-action", "like")
	heart := element("span", "pw-like-icon")
	heart.Call("setAttribute", "aria-hidden", "true")
	heart.Set("textContent", "♥")
	like.Call("append", heart)
	likes := element("span", "pw-like-count")
	like.Call("append", likes)
	row.Call("append", like)
	n.like, n.likes = like, likes

	if p.ParentID == "" {
		var r app.Value
		if l.InThread {
			r = element("span", "pw-reply-count pw-muted")
		} else {
			r = element("a", "pw-button pw-quiet pw-reply")
			r.Set("href", threadPath(p.ID))
		}
		row.Call("append", r)
		n.replies = r
	}
	if p.ParentID != "" && !l.InThread {
		// A reply shown apart from its post (on a profile): the way to it.
		r := element("a", "pw-thread-link")
		r.Set("href", threadPath(p.ParentID))
		r.Set("textContent", "View the conversation")
		row.Call("append", r)
	}
	if p.Author != l.Me {
		rep := element("button", "pw-button pw-quiet pw-report")
		rep.Set("type", "button")
		rep.Call("setAttribute", "data-action", "report")
		rep.Call("setAttribute", "aria-label", "Report "+l.postName(p))
		rep.Set("textContent", "Report")
		row.Call("append", rep)
	}
	return row
}

// writeAuthor writes who wrote the post: the name shown, @username next to
// a display name, and the avatar (already built for u).
func (l *postList) writeAuthor(n *postNode, u wall.User) {
	p := n.post
	n.author.Set("textContent", shownName(u, p.Author))
	handle := ""
	if shownName(u, p.Author) != p.Author {
		handle = "@" + p.Author
	}
	n.handle.Set("textContent", handle)
	n.shown = u
}

// showAuthor shows a user looked up (or changed) after the post was drawn.
func (l *postList) showAuthor(n *postNode, u wall.User) {
	if u.Avatar != n.shown.Avatar || (u.Avatar == "" && initial(shownName(u, n.post.Author)) != initial(shownName(n.shown, n.post.Author))) {
		pic := avatarNode(u, n.post.Author, avatarSmall)
		n.pic.Call("replaceWith", pic)
		n.pic = pic
	}
	l.writeAuthor(n, u)
}

// showImage opens image i of the post id large; the focus comes back to
// the button that opened it.
func (l *postList) showImage(id string, i int, opener app.Value) {
	n := l.nodes[id]
	if n == nil {
		return
	}
	images := n.post.Images.List()
	if i < 0 || i >= len(images) {
		return
	}
	openLightbox(images[i], opener)
}

// showCounts writes the post's counts and whether it is liked into its node.
func (l *postList) showCounts(n *postNode) {
	p := n.post
	n.likes.Set("textContent", strconv.Itoa(p.LikeCount))
	n.like.Call("setAttribute", "aria-pressed", strconv.FormatBool(p.Liked == wall.LikedYes))
	n.like.Set("title", plural(p.LikeCount, "like", "likes"))
	// Labels hold the visible text (WCAG's label in name): speech users say
	// what they see.
	n.like.Call("setAttribute", "aria-label", "Like "+l.postName(p)+", "+plural(p.LikeCount, "like", "likes"))
	if !n.replies.Truthy() {
		return
	}
	if l.InThread {
		n.replies.Set("textContent", plural(p.ReplyCount, "reply", "replies"))
		return
	}
	label, name := "Reply", "Reply to "+l.postName(p)
	if p.ReplyCount > 0 {
		label = "Reply · " + strconv.Itoa(p.ReplyCount)
		name = "Reply · " + plural(p.ReplyCount, "reply", "replies") + " to " + l.postName(p)
	}
	n.replies.Set("textContent", label)
	n.replies.Call("setAttribute", "aria-label", name)
	n.replies.Set("title", plural(p.ReplyCount, "reply", "replies"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// threadPath is the address of a post's thread.
func threadPath(id string) string { return "/post/" + id }

// appendRichText writes a post's text into el: text nodes, with links and
// mentions as anchors built here (never markup from the text).
func appendRichText(el app.Value, text string) {
	doc := app.Window().Get("document")
	for _, s := range segments(text) {
		switch s.Kind {
		case segText:
			el.Call("append", doc.Call("createTextNode", s.Text))
		case segLink:
			a := element("a", "pw-link")
			a.Set("href", s.Href)
			a.Set("target", "_blank")
			a.Set("rel", "noopener noreferrer nofollow")
			a.Set("textContent", s.Text)
			el.Call("append", a)
		case segMention:
			a := element("a", "pw-mention")
			a.Set("href", s.Href)
			a.Set("textContent", s.Text)
			el.Call("append", a)
		}
	}
}

func isLong(s string) bool {
	return strings.Count(s, "\n") >= clampLines || utf8.RuneCountInString(s) > clampRunes
}

// excerpt is the start of a post, to name it in labels and messages.
func excerpt(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const max = 40
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:max])) + "…"
}

func (l *postList) onButton(ctx app.Context, action, id string) {
	n := l.nodes[id]
	if n == nil {
		return
	}
	switch action {
	case "more":
		text := n.li.Call("querySelector", ".pw-text")
		btn := n.li.Call("querySelector", ".pw-more")
		expanded := text.Get("classList").Call("toggle", "pw-clamped").Bool() == false
		btn.Call("setAttribute", "aria-expanded", strconv.FormatBool(expanded))
		if expanded {
			btn.Set("textContent", "Show less")
		} else {
			btn.Set("textContent", "Show more")
		}
	case "delete":
		if n.state != postShown {
			return
		}
		n.state = postUndo
		n.gen++
		gen := n.gen
		n.li.Get("classList").Call("add", "pw-post-undo")
		name := l.postName(n.post)
		n.li.Call("querySelector", ".pw-undo-text").Set("textContent", "Deleting "+name+"…")
		l.say("Deleting " + name + " in a few seconds. Press Undo to keep it.")
		n.li.Call("querySelector", "button[data-action=undo]").Call("focus")
		ctx.After(undoFor, func(ctx app.Context) {
			if n.state != postUndo || n.gen != gen || l.nodes[id] != n {
				return
			}
			n.state = postDeleting
			if n.li.Call("contains", app.Window().Get("document").Get("activeElement")).Bool() {
				n.li.Call("focus", map[string]any{"preventScroll": true})
			}
			n.li.Get("classList").Call("add", "pw-post-deleting")
			ctx.NewActionWithValue(actionDelete, id)
			ctx.After(deleteGiveUp, func(ctx app.Context) {
				if n.state == postDeleting && n.gen == gen && l.nodes[id] == n {
					l.restore(n)
				}
			})
		})
	case "like":
		like := n.post.Liked != wall.LikedYes
		// Shown at once: the outbox holds the like and the view shows it.
		ctx.NewActionWithValue(actionLike, likeRequest{ID: id, Like: like})
	case "report":
		reason := app.Window().Call("prompt", "Why are you reporting "+l.postName(n.post)+"? (optional)", "")
		if reason.IsNull() || reason.IsUndefined() {
			return // cancelled
		}
		r := []rune(reason.String())
		if len(r) > wall.MaxReasonLength {
			r = r[:wall.MaxReasonLength]
		}
		ctx.NewActionWithValue(actionReport, reportRequest{ID: id, Reason: string(r)})
	case "undo":
		if n.state != postUndo {
			return
		}
		l.restore(n)
		l.say("Kept " + l.postName(n.post) + ".")
		// The post itself takes the focus, not its Delete button: a repeated
		// key would otherwise start the delete again.
		n.li.Call("focus", map[string]any{"preventScroll": true})
	}
}

func (l *postList) restore(n *postNode) {
	n.state = postShown
	n.gen++
	n.li.Get("classList").Call("remove", "pw-post-undo", "pw-post-deleting")
}

// say announces a message politely to screen readers.
func (l *postList) say(msg string) {
	if el := app.Window().GetElementByID(l.statusID()); el.Truthy() {
		el.Set("textContent", msg)
	}
}

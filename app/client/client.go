// Package client is the app's state and actions, apart from any component:
// the session, the feed, the outbox and the live socket, put together. The
// components only render a View and call these methods; everything here runs
// natively too, so it is tested with plain go test against real HTTP and
// WebSocket servers.
package client

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/postwall/postwall/app/feed"
	"github.com/postwall/postwall/app/fetch"
	"github.com/postwall/postwall/app/live"
	"github.com/postwall/postwall/app/session"
	"github.com/postwall/postwall/app/storage"
	"github.com/postwall/postwall/backend/wall"
)

// Config is where the app's servers are.
type Config struct {
	APIURL  string
	WSURL   string
	Session session.Config
}

// Deps are the platform's parts: the browser's in the app, real servers'
// clients in tests.
type Deps struct {
	HTTP    fetch.Doer
	Dial    live.Dialer
	Local   storage.Storage // survives the tab: the session, outbox, last posts seen
	Session storage.Storage // the tab's: the sign-in in progress
	Now     func() time.Time
	Random  io.Reader    // nil: crypto/rand
	Backoff live.Backoff // between reconnects; zero: live.DefaultBackoff
	// RetryBackoff spaces resends of the outbox after a rate limit; zero:
	// live.DefaultRetryBackoff.
	RetryBackoff live.Backoff
}

// View is everything the components show, as one value.
type View struct {
	SignedIn     bool
	Username     string
	Status       string // live.Status's text: off, connecting, online, offline
	Posts        []wall.Post
	Pending      []live.Pending
	Loading      bool // the first page is on its way and nothing is shown yet
	LoadingOlder bool
	HasOlder     bool
	FeedError    string
	ComposeError string
	RestoreText  string // text of a refused post, for the composer to take back
	Notice       string // something that went wrong elsewhere (a delete refused)
	Admin        bool   // in the admins group: may delete any post
	Thread       Thread // the thread open, if any (Thread.ID "" when none)
	ReplyError   string // the thread's composer's error
	RestoreReply string // text of a refused reply, for the composer to take back
	// Notifications are the newest first; Unread counts those not read.
	Notifications []wall.Notification
	Unread        int
	// Users are the people looked up so far, by username, for the names
	// and avatars shown with posts. Shared between views: read only.
	Users       map[string]wall.User
	Profile     Profile     // the profile open, if any (Profile.Name "" when none)
	ProfileForm ProfileForm // the edit-profile form
	Reports     Reports     // the reports page, for admins
	// Attachments are the composer's images; AttachError says why a file
	// was not attached.
	Attachments []Attachment
	AttachError string
	Seq         int // grows with every change, so observers see each one
}

// Page sizes.
const (
	pageSize       = 30
	catchUpPage    = wall.MaxPageLimit
	catchUpMaxPage = 5 // more behind than this: start again from the newest page
)

// App is one tab's Postwall.
type App struct {
	cfg     Config
	deps    Deps
	keeper  *session.Keeper
	api     *feed.API
	people  *peopleAPI
	publish func(View)

	syncMu sync.Mutex // one catch-up at a time

	mu       sync.Mutex
	view     View
	feed     feed.Feed
	outbox   *live.Outbox
	sender   *live.Sender // sends the outbox over socket
	socket   *live.Socket
	stop     context.CancelFunc
	deleting map[string]string // requestId -> post id
	// reporting: reports sent and not answered, requestId -> post id.
	reporting map[string]string
	thread    Thread
	notes     []wall.Notification
	// runCtx is the session's context (from Start): work the session starts
	// by itself (user lookups, uploads) ends with it.
	runCtx      context.Context
	dir         *directory
	profile     Profile
	form        ProfileForm
	reports     Reports
	attachments []Attachment
	attachSeq   int
}

// New returns an app that calls publish with every new View.
func New(cfg Config, deps Deps, publish func(View)) *App {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Backoff.Max == 0 {
		deps.Backoff = live.DefaultBackoff
	}
	a := &App{cfg: cfg, deps: deps, publish: publish, deleting: map[string]string{}, reporting: map[string]string{}, dir: newDirectory()}
	a.keeper = &session.Keeper{Config: cfg.Session, HTTP: deps.HTTP, Store: deps.Local, Attempts: deps.Session, Now: deps.Now}
	a.api = &feed.API{BaseURL: cfg.APIURL, HTTP: deps.HTTP, Token: func(ctx context.Context) (string, error) {
		t, _, err := a.token(ctx)
		return t, err
	}}
	a.people = &peopleAPI{api: a.api}
	a.view.Status = live.StatusOff.String()
	return a
}

// changed publishes the view; call with a.mu held.
func (a *App) changed() {
	a.view.Seq++
	if a.publish != nil {
		a.publish(a.viewLocked())
	}
}

// View returns the current view.
func (a *App) View() View {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.viewLocked()
}

// viewLocked puts the view together: the feed, the thread and the outbox,
// with the likes still pending shown as done.
func (a *App) viewLocked() View {
	v := a.view
	v.Posts = a.feed.Posts()
	_, v.HasOlder = a.feed.Older()
	v.Thread = a.thread
	v.Thread.Replies = slices.Clone(a.thread.Replies)
	v.Notifications = slices.Clone(a.notes)
	v.Users = a.dir.shown
	v.Profile = a.profile
	v.Profile.Posts = slices.Clone(a.profile.Posts)
	v.ProfileForm = a.form
	if a.form.Avatar != nil {
		t := *a.form.Avatar
		v.ProfileForm.Avatar = &t
	}
	v.Reports = a.reports
	v.Reports.Items = slices.Clone(a.reports.Items)
	v.Attachments = slices.Clone(a.attachments)
	if a.outbox == nil {
		return v
	}
	likes := map[string]bool{}
	for _, p := range a.outbox.Items() {
		switch {
		case p.IsLike():
			likes[p.PostID] = p.Kind == live.KindLike
		case p.ParentID == "":
			v.Pending = append(v.Pending, p)
		case p.ParentID == a.thread.ID || (a.thread.Post != nil && p.ParentID == a.thread.Post.ID):
			v.Thread.Pending = append(v.Thread.Pending, p)
		}
	}
	for i := range v.Posts {
		v.Posts[i] = withLikes(v.Posts[i], likes)
	}
	if v.Thread.Post != nil {
		p := withLikes(*v.Thread.Post, likes)
		v.Thread.Post = &p
	}
	for i := range v.Thread.Replies {
		v.Thread.Replies[i] = withLikes(v.Thread.Replies[i], likes)
	}
	for i := range v.Profile.Posts {
		v.Profile.Posts[i] = withLikes(v.Profile.Posts[i], likes)
	}
	return v
}

// Start resumes the tab's session if there is one: the last posts seen at
// once, then the server's, then the live socket. It returns at once.
func (a *App) Start(ctx context.Context) {
	t := a.keeper.Current()
	a.mu.Lock()
	defer a.mu.Unlock()
	if t.AccessToken == "" || a.stop != nil {
		a.changed()
		return
	}
	ctx, a.stop = context.WithCancel(ctx)
	a.runCtx = ctx
	a.view.SignedIn, a.view.Username = true, t.Username
	a.view.Admin = t.InGroup(AdminGroup)
	a.outbox = live.OpenOutbox(a.deps.Local, t.Sub)
	a.feed.Merge(feed.LoadCache(a.deps.Local)...)
	a.wantAuthors(a.feed.Posts()...)
	a.view.Loading = a.feed.Len() == 0
	a.socket = &live.Socket{
		URL:      a.cfg.WSURL,
		Dial:     a.deps.Dial,
		Token:    a.token,
		Backoff:  a.deps.Backoff,
		Now:      a.deps.Now,
		OnStatus: a.onStatus,
		OnOpen:   a.onOpen,
		OnFrame:  a.onFrame,
	}
	sock := a.socket
	a.sender = &live.Sender{
		Outbox:  a.outbox,
		Send:    func(frame []byte) error { return sock.Send(ctx, frame) },
		Backoff: a.deps.RetryBackoff,
	}
	a.changed()
	go a.Sync(ctx)
	go a.socket.Run(ctx)
}

// token is the socket's and the API's access token; a session that cannot go
// on ends here.
func (a *App) token(ctx context.Context) (string, time.Time, error) {
	t, exp, err := a.keeper.AccessToken(ctx)
	if errors.Is(err, session.ErrSignedOut) {
		go a.ended()
	}
	return t, exp, err
}

// ended: the session is gone (refresh refused). Stop, and say so.
func (a *App) ended() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopLocked()
	a.view = View{Status: live.StatusOff.String(), Notice: "Your session has ended. Please sign in again."}
	a.changed()
}

func (a *App) stopLocked() {
	if a.stop != nil {
		a.stop()
		a.stop = nil
	}
	if a.sender != nil {
		a.sender.Stop()
	}
	a.socket = nil
	a.sender = nil
	a.outbox = nil
	a.feed = feed.Feed{}
	a.thread = Thread{}
	a.notes = nil
	a.runCtx = nil
	a.dir = newDirectory()
	if a.form.Avatar != nil {
		dropAttachment(*a.form.Avatar)
	}
	a.profile, a.form, a.reports = Profile{}, ProfileForm{}, Reports{}
	a.clearAttachments()
}

// SignIn returns the hosted UI address where "Sign in" (or, with signup,
// "Create account") goes.
func (a *App) SignIn(signup bool) (string, error) {
	return a.keeper.Begin(signup, a.deps.Random)
}

// CompleteSignIn handles /callback and starts the session.
func (a *App) CompleteSignIn(ctx context.Context, callbackURL string) error {
	if _, err := a.keeper.Complete(ctx, callbackURL); err != nil {
		return err
	}
	a.Start(ctx)
	return nil
}

// SignOut closes the socket, forgets the session (in every window: they
// share it) and the posts kept for offline use, and returns the hosted UI's
// logout address. The outbox stays: it is this user's, sent only with this
// user's token when they are back.
func (a *App) SignOut(ctx context.Context) string {
	a.mu.Lock()
	a.stopLocked()
	a.deps.Local.Del(feed.CacheKey)
	a.deps.Local.Del(DraftKey)
	a.view = View{Status: live.StatusOff.String()}
	a.changed()
	a.mu.Unlock()
	return a.keeper.SignOut(ctx)
}

// SessionChanged follows another window of the app: signed out there, this
// one stops too; signed in there, this one starts.
func (a *App) SessionChanged(ctx context.Context) {
	t := a.keeper.Current()
	a.mu.Lock()
	signedIn := a.view.SignedIn
	switch {
	case t.AccessToken == "" && signedIn:
		a.stopLocked()
		a.view = View{Status: live.StatusOff.String()}
		a.changed()
		a.mu.Unlock()
	case t.AccessToken != "" && !signedIn:
		a.mu.Unlock()
		a.Start(ctx)
	default:
		a.mu.Unlock()
	}
}

func (a *App) onStatus(s live.Status) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.view.SignedIn {
		a.view.Status = s.String()
		a.changed()
	}
}

// onOpen runs after every (re)connect: catch up, then resend the outbox with
// the same requestIds (the server stores each once).
func (a *App) onOpen(ctx context.Context) {
	a.mu.Lock()
	if a.view.Notice == offlineDeleteNotice {
		a.view.Notice = "" // no longer true
		a.changed()
	}
	a.mu.Unlock()
	a.Sync(ctx)
	// Notifications that came while the socket was closed were not heard.
	a.LoadNotifications(ctx)
	a.mu.Lock()
	sender := a.sender
	a.mu.Unlock()
	if sender != nil && ctx.Err() == nil {
		sender.Reset()
	}
}

// Sync brings the feed up to date: the newest page when nothing is held,
// otherwise everything after a little before the newest post held.
func (a *App) Sync(ctx context.Context) {
	a.syncMu.Lock()
	defer a.syncMu.Unlock()

	a.mu.Lock()
	cursor := a.feed.CatchUpCursor()
	a.mu.Unlock()

	err := a.catchUp(ctx, cursor)
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.view.SignedIn {
		return
	}
	a.view.Loading = false
	a.view.FeedError = ""
	if err != nil && ctx.Err() == nil {
		a.view.FeedError = describe(err, "The posts could not be loaded.")
	}
	if err == nil {
		_ = feed.SaveCache(a.deps.Local, &a.feed) // a full storage only costs the offline copy
	}
	a.changed()
}

func (a *App) catchUp(ctx context.Context, cursor string) error {
	if cursor == "" {
		return a.newest(ctx)
	}
	var got []wall.Post
	for range catchUpMaxPage {
		p, err := a.api.ListPosts(ctx, feed.Query{Limit: catchUpPage, After: cursor})
		if err != nil {
			return err
		}
		got = append(got, p.Posts...)
		if p.Next == "" {
			a.mu.Lock()
			a.feed.Merge(got...)
			a.wantAuthors(got...)
			a.mu.Unlock()
			return nil
		}
		cursor = p.Next
	}
	return a.newest(ctx) // too far behind: a gap is better than a long wait
}

func (a *App) newest(ctx context.Context) error {
	p, err := a.api.ListPosts(ctx, feed.Query{Limit: pageSize})
	if err != nil {
		return err
	}
	a.mu.Lock()
	// Posts that arrived over the socket while the page was on its way are
	// newer than its newest one: keep them, or a post heard live would vanish
	// until the next sync.
	top := ""
	if len(p.Posts) > 0 {
		top = p.Posts[0].ID
	}
	var heardMeanwhile []wall.Post
	for _, q := range a.feed.Posts() {
		if q.ID <= top {
			break
		}
		heardMeanwhile = append(heardMeanwhile, q)
	}
	a.feed.Reset(p.Posts, p.Next)
	a.feed.Merge(heardMeanwhile...)
	a.wantAuthors(p.Posts...)
	a.mu.Unlock()
	return nil
}

// LoadOlder reads the next older page.
func (a *App) LoadOlder(ctx context.Context) {
	a.mu.Lock()
	cursor, ok := a.feed.Older()
	if !ok || a.view.LoadingOlder || !a.view.SignedIn {
		a.mu.Unlock()
		return
	}
	a.view.LoadingOlder = true
	a.changed()
	a.mu.Unlock()

	p, err := a.api.ListPosts(ctx, feed.Query{Limit: pageSize, Before: cursor})

	a.mu.Lock()
	defer a.mu.Unlock()
	a.view.LoadingOlder = false
	if err != nil {
		a.view.FeedError = describe(err, "Older posts could not be loaded.")
	} else {
		a.view.FeedError = ""
		a.feed.Merge(p.Posts...)
		a.feed.SetOlder(p.Next)
		a.wantAuthors(p.Posts...)
	}
	a.changed()
}

// Send keeps text in the outbox and sends it if the socket is open. Invalid
// text is refused here, with the message to show in place.
func (a *App) Send(ctx context.Context, text string) error {
	return a.SendDraft(ctx, Draft{Text: text})
}

// Draft is what the composer sends: its text, and the alt texts it holds
// for its images, by attachment key (they replace those set before).
type Draft struct {
	Text string
	Alts map[string]string
}

// SendDraft keeps a post, with the composer's images if it has any, in the
// outbox and sends it if the socket is open. A post with images is kept only
// once every upload is done; until then, and for invalid text, it is
// refused here with the message to show, and its text is given back.
func (a *App) SendDraft(ctx context.Context, d Draft) error {
	a.mu.Lock()
	ob, sender := a.outbox, a.sender
	if ob == nil {
		a.mu.Unlock()
		return &wall.Error{Code: wall.EUNAUTHORIZED, Message: "Sign in to post."}
	}
	for i := range a.attachments {
		if alt, ok := d.Alts[a.attachments[i].Key]; ok {
			a.attachments[i].Alt = alt
		}
	}
	images, err := a.imageDrafts()
	if err == nil {
		_, err = ob.AddWithImages(d.Text, images, a.deps.Now())
	}
	a.view.ComposeError, a.view.RestoreText = "", ""
	if err != nil {
		a.view.ComposeError = describe(err, "The post could not be kept.")
		a.view.RestoreText = d.Text
	} else {
		a.clearAttachments() // they are the post's now
	}
	a.changed()
	a.mu.Unlock()
	if err != nil {
		return err
	}
	sender.Flush() // not open: the outbox sends it on connect
	return nil
}

// Discard drops a pending post the user gave up on.
func (a *App) Discard(requestID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.outbox != nil {
		_ = a.outbox.Discard(requestID)
		a.changed()
	}
}

// Delete asks to delete one's own post; it disappears when the server says
// it is deleted (for everyone at once).
func (a *App) Delete(ctx context.Context, id string) {
	a.sendTracked(ctx, a.deleting, id, live.DeletePostFrame, offlineDeleteNotice)
}

// sendTracked sends the frame made for a fresh requestId and the post id,
// keeping the id in pending under that requestId until its answer comes; a
// frame that cannot be sent is forgotten again and offline is shown.
func (a *App) sendTracked(ctx context.Context, pending map[string]string, id string,
	frame func(requestID, id string) []byte, offline string) {
	rid := live.NewRequestID()
	a.mu.Lock()
	sock := a.socket
	if sock != nil {
		pending[rid] = id
	}
	a.mu.Unlock()
	if sock == nil {
		return
	}
	if err := sock.Send(ctx, frame(rid, id)); err != nil {
		a.mu.Lock()
		delete(pending, rid)
		a.view.Notice = offline
		a.changed()
		a.mu.Unlock()
	}
}

// offlineDeleteNotice is shown while a delete cannot be sent, until the
// connection is back.
const offlineDeleteNotice = "You are offline: the post can be deleted once the connection is back."

// DraftKey holds the composer's unsent text in Local; it goes with the
// session.
const DraftKey = "postwall.draft"

// DismissNotice clears the notice.
func (a *App) DismissNotice() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.view.Notice = ""
	a.changed()
}

// Wake reconnects now if the socket is waiting (the browser is back online).
func (a *App) Wake() {
	a.mu.Lock()
	sock := a.socket
	a.mu.Unlock()
	if sock != nil {
		sock.Wake()
	}
}

func (a *App) onFrame(f live.Frame) {
	a.mu.Lock()
	sender := a.sender
	answered := a.onFrameLocked(f)
	a.mu.Unlock()
	// The sender sends the next posts: outside a.mu, which sending does not need.
	switch answered {
	case ackedPost:
		sender.Acked(f.RequestID)
	case refusedPost:
		sender.Failed(f.RequestID, live.Retryable(f.Code))
	}
}

// What a frame answered, for the outbox's sender.
type answer int

const (
	noPost answer = iota
	ackedPost
	refusedPost
)

func (a *App) onFrameLocked(f live.Frame) answer {
	if a.outbox == nil {
		return noPost
	}
	answered := noPost
	switch f.Type {
	case wall.FrameAck:
		if _, ok := a.reporting[f.RequestID]; ok {
			delete(a.reporting, f.RequestID)
			a.view.Notice = "Thank you: the post is reported to the moderators."
			break
		}
		if id, ok := a.deleting[f.RequestID]; ok {
			// A delete's ack carries the post as it was: it is gone.
			delete(a.deleting, f.RequestID)
			if f.Post != nil {
				id = f.Post.ID
			}
			a.feed.Remove(id)
			a.threadDeleted(id)
			a.profileDeleted(id)
			break
		}
		_, _ = a.outbox.Ack(f.RequestID)
		answered = ackedPost
		if f.Post != nil {
			a.merged(*f.Post)
		}
	case wall.FramePost:
		a.merged(*f.Post)
	case wall.FrameDeleted:
		a.feed.Remove(f.ID)
		a.threadDeleted(f.ID)
		a.profileDeleted(f.ID)
	case wall.FrameCounts:
		a.feed.SetCounts(f.ID, f.ReplyCount, f.LikeCount)
		a.threadCounts(f.ID, f.ReplyCount, f.LikeCount)
		a.profileCounts(f.ID, f.ReplyCount, f.LikeCount)
	case wall.FrameNotification:
		n := *f.Notification
		if i := slices.IndexFunc(a.notes, func(q wall.Notification) bool { return q.ID == n.ID }); i < 0 && !n.Read {
			a.view.Unread++
		}
		a.notes = mergeNotifications(a.notes, n)
		a.changed()
		return noPost
	case wall.FrameError:
		if !a.onError(f) {
			answered = refusedPost
		}
	default:
		return noPost // pong
	}
	if f.Type != wall.FrameError {
		_ = feed.SaveCache(a.deps.Local, &a.feed)
	}
	a.changed()
	return answered
}

// onError places a server error where it belongs and reports whether it
// answered a delete; a.mu is held. A retryable refusal of a post (rate
// limited) keeps it in the outbox, with its message; the sender resends it.
func (a *App) onError(f live.Frame) (wasDelete bool) {
	if _, ok := a.reporting[f.RequestID]; ok {
		delete(a.reporting, f.RequestID)
		a.view.Notice = f.Message
		return true
	}
	if id, ok := a.deleting[f.RequestID]; ok {
		delete(a.deleting, f.RequestID)
		if f.Code == wall.ENOTFOUND {
			a.feed.Remove(id) // already gone
			return true
		}
		a.view.Notice = f.Message
		return true
	}
	p, dropped, ok, _ := a.outbox.Fail(f.RequestID, f.Code, f.Message)
	switch {
	case !ok:
		a.view.Notice = f.Message
	case dropped && p.IsLike():
		a.view.Notice = f.Message
	case dropped && p.ParentID != "":
		a.view.ReplyError, a.view.RestoreReply = f.Message, p.Text
		if f.Code == wall.ENOTFOUND && (p.ParentID == a.thread.ID || a.thread.Post != nil && p.ParentID == a.thread.Post.ID) {
			a.thread.NotFound, a.thread.Post, a.thread.Replies = true, nil, nil
		}
	case dropped:
		a.view.ComposeError, a.view.RestoreText = f.Message, p.Text
	}
	return false
}

// merged takes a post heard live (a broadcast or an ack) everywhere it
// shows; a.mu is held.
func (a *App) merged(p wall.Post) {
	a.feed.Merge(p)
	a.threadMerge(p)
	a.profileMerge(p)
	a.wantAuthors(p)
}

// threadMerge puts a post into the open thread: its root's fresher copy, or
// one of its replies.
func (a *App) threadMerge(p wall.Post) {
	t := &a.thread
	if t.Post == nil {
		return
	}
	switch {
	case p.ID == t.Post.ID:
		q := feed.Newer(*t.Post, p)
		t.Post = &q
	case p.ParentID == t.Post.ID:
		t.Replies = mergeReplies(t.Replies, p)
	}
}

func (a *App) threadCounts(id string, replies, likes int) {
	t := &a.thread
	if t.Post != nil && t.Post.ID == id {
		q := *t.Post
		q.ReplyCount, q.LikeCount = max(replies, 0), max(likes, 0)
		t.Post = &q
	}
	for i := range t.Replies {
		if t.Replies[i].ID == id {
			t.Replies[i].ReplyCount, t.Replies[i].LikeCount = max(replies, 0), max(likes, 0)
		}
	}
}

// threadDeleted: the thread's post is gone (with its replies), or one reply.
func (a *App) threadDeleted(id string) {
	t := &a.thread
	if t.Post != nil && t.Post.ID == id {
		t.NotFound, t.Post, t.Replies = true, nil, nil
		return
	}
	t.Replies = slices.DeleteFunc(t.Replies, func(p wall.Post) bool { return p.ID == id })
}

// describe turns an error into words for people.
func describe(err error, fallback string) string {
	var we *wall.Error
	var ne *fetch.NetworkError
	switch {
	case errors.As(err, &we) && we.Message != "":
		return we.Message
	case errors.As(err, &ne):
		return "You appear to be offline. " + fallback
	default:
		return fallback
	}
}

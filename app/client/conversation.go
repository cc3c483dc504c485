package client

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/postwall/postwall/app/feed"
	"github.com/postwall/postwall/app/live"
	"github.com/postwall/postwall/backend/wall"
)

// Thread is a post with its replies, as the thread view shows it.
type Thread struct {
	ID       string      // the post asked for (a reply's id opens its parent's thread)
	Post     *wall.Post  // the top-level post, once read
	Replies  []wall.Post // oldest first
	More     bool        // more replies to read after the last one
	Loading  bool
	Error    string
	NotFound bool
	Pending  []live.Pending // replies to it waiting in the outbox
}

// Page sizes of the conversation.
const (
	repliesPage       = 50
	notificationsPage = 30
)

// AdminGroup is the group whose members may delete any post (contract §9).
const AdminGroup = "admins"

// OpenThread shows the thread of the post id: the post (a reply's parent,
// when id is a reply) and the first page of its replies.
func (a *App) OpenThread(ctx context.Context, id string) {
	a.mu.Lock()
	if a.thread.ID == id && (a.thread.Post != nil || a.thread.Loading) {
		a.mu.Unlock()
		return
	}
	a.thread = Thread{ID: id, Loading: true}
	a.changed()
	a.mu.Unlock()

	post, err := a.api.GetPost(ctx, id)
	if err == nil && post.ParentID != "" {
		post, err = a.api.GetPost(ctx, post.ParentID)
	}
	var page feed.Page
	if err == nil {
		page, err = a.api.ListReplies(ctx, post.ID, repliesPage, "")
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.thread.ID != id {
		return // another thread was opened meanwhile
	}
	a.thread.Loading = false
	if err != nil {
		a.threadFailed(err, "The post could not be loaded.")
		a.changed()
		return
	}
	a.feed.Merge(post) // fresher counts for the wall too
	p := post
	a.thread.Post = &p
	a.thread.Replies = mergeReplies(a.thread.Replies, page.Posts...)
	a.thread.More = page.Next != ""
	a.thread.Error = ""
	a.wantAuthors(append([]wall.Post{post}, page.Posts...)...)
	a.changed()
}

func (a *App) threadFailed(err error, fallback string) {
	var we *wall.Error
	if errors.As(err, &we) && we.Code == wall.ENOTFOUND {
		a.thread.NotFound = true
		a.thread.Post, a.thread.Replies = nil, nil
		return
	}
	a.thread.Error = describe(err, fallback)
}

// MoreReplies reads the next page of the open thread's replies.
func (a *App) MoreReplies(ctx context.Context) {
	a.mu.Lock()
	t := a.thread
	if t.Post == nil || t.Loading || !t.More || len(t.Replies) == 0 {
		a.mu.Unlock()
		return
	}
	a.thread.Loading = true
	a.changed()
	after := t.Replies[len(t.Replies)-1].ID
	a.mu.Unlock()

	page, err := a.api.ListReplies(ctx, t.Post.ID, repliesPage, after)

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.thread.ID != t.ID {
		return
	}
	a.thread.Loading = false
	if err != nil {
		a.threadFailed(err, "More replies could not be loaded.")
	} else {
		a.thread.Replies = mergeReplies(a.thread.Replies, page.Posts...)
		a.thread.More = page.Next != ""
		a.thread.Error = ""
		a.wantAuthors(page.Posts...)
	}
	a.changed()
}

// CloseThread forgets the thread (the reader went back to the wall).
func (a *App) CloseThread() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.thread = Thread{}
	a.changed()
}

// mergeReplies adds replies to those held, oldest first, one per id.
func mergeReplies(held []wall.Post, add ...wall.Post) []wall.Post {
	for _, p := range add {
		i, found := slices.BinarySearchFunc(held, p.ID, func(q wall.Post, id string) int { return strings.Compare(q.ID, id) })
		if found {
			held[i] = feed.Newer(held[i], p)
			continue
		}
		held = slices.Insert(held, i, p)
	}
	return held
}

// Reply keeps a reply to parentID in the outbox and sends it if it can.
func (a *App) Reply(ctx context.Context, parentID, text string) error {
	a.mu.Lock()
	ob, sender := a.outbox, a.sender
	a.mu.Unlock()
	if ob == nil {
		return &wall.Error{Code: wall.EUNAUTHORIZED, Message: "Sign in to reply."}
	}
	_, err := ob.AddReply(text, parentID, a.deps.Now())
	a.mu.Lock()
	a.view.ReplyError, a.view.RestoreReply = "", ""
	if err != nil {
		a.view.ReplyError = describe(err, "The reply could not be kept.")
	}
	a.changed()
	a.mu.Unlock()
	if err != nil {
		return err
	}
	sender.Flush()
	return nil
}

// Like likes (or, with like false, unlikes) the post id. The view shows it
// at once; the server's ack then says how it stands. Offline, it waits in
// the outbox.
func (a *App) Like(ctx context.Context, id string, like bool) {
	a.mu.Lock()
	ob, sender := a.outbox, a.sender
	if ob == nil {
		a.mu.Unlock()
		return
	}
	if _, err := ob.SetLike(id, like, a.deps.Now()); err != nil {
		a.view.Notice = describe(err, "The like could not be kept.")
	}
	a.changed()
	a.mu.Unlock()
	sender.Flush()
}

// Report reports a post to the admins, with the reporter's reason.
func (a *App) Report(ctx context.Context, id, reason string) {
	a.sendTracked(ctx, a.reporting, id, func(rid, id string) []byte { return live.ReportFrame(rid, id, reason) },
		"You are offline: the post can be reported once the connection is back.")
}

// LoadNotifications reads the newest notifications and the unread count.
func (a *App) LoadNotifications(ctx context.Context) {
	n, err := a.api.ListNotifications(ctx, notificationsPage, "")
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.view.SignedIn {
		return
	}
	if err != nil {
		return // the bell keeps what it had; the next load tries again
	}
	a.notes = mergeNotifications(a.notes, n.Notifications...)
	a.view.Unread = n.Unread
	a.changed()
}

// MarkAllRead marks every notification shown read.
func (a *App) MarkAllRead(ctx context.Context) {
	a.mu.Lock()
	if len(a.notes) == 0 {
		a.mu.Unlock()
		return
	}
	newest := a.notes[0].ID
	for i := range a.notes {
		a.notes[i].Read = true
	}
	a.view.Unread = 0
	a.changed()
	a.mu.Unlock()

	unread, err := a.api.MarkRead(ctx, newest)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.view.Notice = describe(err, "The notifications could not be marked read.")
	} else {
		a.view.Unread = unread // some may have come meanwhile
	}
	a.changed()
}

// mergeNotifications adds notifications, newest first, one per id.
func mergeNotifications(held []wall.Notification, add ...wall.Notification) []wall.Notification {
	for _, n := range add {
		i, found := slices.BinarySearchFunc(held, n.ID, func(q wall.Notification, id string) int { return -strings.Compare(q.ID, id) })
		if found {
			held[i] = n
			continue
		}
		held = slices.Insert(held, i, n)
	}
	return held
}

// withLikes shows pending likes over the server's copy of a post: what the
// user asked for shows at once, and the ack then sets it right.
func withLikes(p wall.Post, likes map[string]bool) wall.Post {
	like, ok := likes[p.ID]
	if !ok {
		return p
	}
	if like && p.Liked != wall.LikedYes {
		p.LikeCount++
	}
	if !like && p.Liked == wall.LikedYes {
		p.LikeCount = max(p.LikeCount-1, 0)
	}
	p.Liked = wall.LikingOf(like)
	return p
}

package client

import (
	"testing"
	"time"

	"github.com/postwall/postwall/app/live"
	"github.com/postwall/postwall/app/storage"
	"github.com/postwall/postwall/backend/wall"
)

// A like shows at once from the outbox, the ack sets the counts right,
// counts frames update them live, replies go to their thread only, and a
// notification heard twice counts once.
func TestConversationFrames(t *testing.T) {
	a := New(Config{}, Deps{Local: storage.NewMemory(), Session: storage.NewMemory()}, nil)
	a.outbox = live.OpenOutbox(a.deps.Local, "sub-1")
	a.view.SignedIn = true
	root := wall.Post{ID: "01AAAAAAAAAAAAAAAAAAAAAAAA", Author: "alice", Text: "hi", LikeCount: 4, Liked: wall.LikedNo}
	a.feed.Merge(root)
	a.thread = Thread{ID: root.ID, Post: &root}

	p, err := a.outbox.SetLike(root.ID, true, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := a.View().Posts[0]; got.Liked != wall.LikedYes || got.LikeCount != 5 {
		t.Fatalf("optimistic like: %+v", got)
	}
	if got := a.View().Thread.Post; got.Liked != wall.LikedYes || got.LikeCount != 5 {
		t.Fatalf("optimistic like in the thread: %+v", got)
	}
	acked := root
	acked.Liked, acked.LikeCount = wall.LikedYes, 7 // others liked it meanwhile
	if a.onFrameLocked(live.Frame{Type: wall.FrameAck, RequestID: p.RequestID, Post: &acked}) != ackedPost {
		t.Fatal("the like's ack did not answer the outbox")
	}
	if got := a.View().Posts[0]; got.Liked != wall.LikedYes || got.LikeCount != 7 || len(a.outbox.Items()) != 0 {
		t.Fatalf("after the ack: %+v, outbox %v", got, a.outbox.Items())
	}
	a.onFrameLocked(live.Frame{Type: wall.FrameCounts, ID: root.ID, ReplyCount: 1, LikeCount: 6})
	if got := a.View().Posts[0]; got.Liked != wall.LikedYes || got.LikeCount != 6 || got.ReplyCount != 1 {
		t.Fatalf("after a counts frame: %+v", got)
	}
	if got := a.View().Thread.Post; got.LikeCount != 6 || got.ReplyCount != 1 {
		t.Fatalf("the thread after a counts frame: %+v", got)
	}

	reply := wall.Post{ID: "01BBBBBBBBBBBBBBBBBBBBBBBB", Author: "bob", Text: "yes", ParentID: root.ID}
	a.onFrameLocked(live.Frame{Type: wall.FramePost, Post: &reply})
	a.onFrameLocked(live.Frame{Type: wall.FramePost, Post: &reply})
	v := a.View()
	if len(v.Posts) != 1 || len(v.Thread.Replies) != 1 || v.Thread.Replies[0].ID != reply.ID {
		t.Fatalf("after a reply: wall %d posts, thread %+v", len(v.Posts), v.Thread.Replies)
	}

	n := wall.Notification{ID: "01CCCCCCCCCCCCCCCCCCCCCCCC", Kind: wall.NotifyReply, PostID: reply.ID, Actor: "bob"}
	a.onFrameLocked(live.Frame{Type: wall.FrameNotification, Notification: &n})
	a.onFrameLocked(live.Frame{Type: wall.FrameNotification, Notification: &n})
	if v := a.View(); v.Unread != 1 || len(v.Notifications) != 1 {
		t.Fatalf("unread %d, notifications %v", v.Unread, v.Notifications)
	}

	a.onFrameLocked(live.Frame{Type: wall.FrameDeleted, ID: root.ID})
	if v := a.View(); !v.Thread.NotFound || len(v.Thread.Replies) != 0 || len(v.Posts) != 0 {
		t.Fatalf("after the root's deletion: %+v", v.Thread)
	}
}

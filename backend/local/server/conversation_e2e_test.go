package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/local/server"
	"github.com/postwall/postwall/backend/local/server/servertest"
	"github.com/postwall/postwall/backend/wall"
)

// TestConversationEndToEnd drives replies, likes, mentions and notifications
// through the real server, over HTTP and WebSockets, as the PWA does.
func TestConversationEndToEnd(t *testing.T) {
	srv := start(t, server.Config{DataDir: t.TempDir(), PostLimit: 1000, PostWindow: time.Minute, Log: testLogger(t)})
	base := srv.BaseURL

	users := make([]*servertest.User, 5)
	for i, name := range []string{"alice", "bob", "carol", "dave", "erin"} {
		users[i] = servertest.NewUser(t, base, name)
		users[i].SignUp()
	}
	alice, bob := users[0], users[1]
	aliceWS, bobWS := alice.Dial(), bob.Dial()

	send := func(s *servertest.Socket, frame map[string]any) servertest.Frame {
		t.Helper()
		s.Send(frame)
		ctx, cancel := context.WithTimeout(context.Background(), servertest.Wait)
		defer cancel()
		f, err := s.Reply(ctx, frame["requestId"].(string))
		if err != nil {
			t.Fatalf("answer to %v: %v", frame, err)
		}
		return f
	}
	post := func(s *servertest.Socket, requestID, text, parent string) wall.Post {
		t.Helper()
		f := send(s, map[string]any{"action": wall.ActionSendPost, "requestId": requestID, "text": text, "parentId": parent})
		if f.Type != wall.FrameAck {
			t.Fatalf("sendpost %s: %s", requestID, f.Raw)
		}
		return f.Post
	}

	root := post(aliceWS, "root", "Who wants to talk?", "")
	if !strings.Contains(aliceWS.RawContaining(`"type":"post"`), root.ID) {
		t.Fatal("alice did not hear her own post")
	}
	// Frames so far are of no interest: from here on, a frame of alice's
	// and bob's sockets is a frame of this test's doing.
	drain := func(s *servertest.Socket) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		for {
			if _, err := s.Await(ctx, func(servertest.Frame) bool { return true }); err != nil {
				return
			}
		}
	}
	drain(aliceWS)
	drain(bobWS)

	t.Run("a reply notifies only the parent's author, live", func(t *testing.T) {
		reply := post(bobWS, "reply-0", "Me!", root.ID)
		if reply.ParentID != root.ID {
			t.Fatalf("reply %+v, want parentId %s", reply, root.ID)
		}
		n := aliceWS.Next(wall.FrameNotification).Notification
		if n.Kind != wall.NotifyReply || n.PostID != reply.ID || n.Actor != "bob" || n.Read {
			t.Errorf("alice's notification %+v, want bob's reply %s", n, reply.ID)
		}
		// Both hear the reply and the root's new counts.
		for _, s := range []*servertest.Socket{aliceWS, bobWS} {
			if raw := s.RawContaining(`"parentId":"` + root.ID + `"`); raw == "" {
				t.Error("a socket did not hear the reply")
			}
			if raw := s.RawContaining(`{"type":"counts","id":"` + root.ID + `","replyCount":1,`); raw == "" {
				t.Error("a socket did not hear the root's counts")
			}
		}
	})

	t.Run("a mention notifies only the one mentioned, live", func(t *testing.T) {
		mention := post(aliceWS, "mention", "Hello @bob and @nobody.", "")
		n := bobWS.Next(wall.FrameNotification).Notification
		if n.Kind != wall.NotifyMention || n.PostID != mention.ID || n.Actor != "alice" {
			t.Errorf("bob's notification %+v, want alice's mention in %s", n, mention.ID)
		}
		// Alice's socket hears the mention's post, and then a marker post; had
		// any notification been sent to her, it would come before the marker.
		marker := post(bobWS, "marker", "marker", "")
		ctx, cancel := context.WithTimeout(context.Background(), servertest.Wait)
		defer cancel()
		if _, err := aliceWS.Await(ctx, func(f servertest.Frame) bool { return f.Type == wall.FramePost && f.Post.ID == marker.ID }); err != nil {
			t.Fatal(err)
		}
		for _, f := range aliceWS.Frames() {
			if f.Type == wall.FrameNotification {
				t.Errorf("alice got a notification frame: %s", f.Raw)
			}
		}
	})

	t.Run("a thread of 30 replies pages oldest first", func(t *testing.T) {
		replies := []string{}
		var first wall.Post
		for i := 1; i < 30; i++ { // the first reply is bob's above
			p := post([]*servertest.Socket{aliceWS, bobWS}[i%2], fmt.Sprintf("reply-%d", i), fmt.Sprintf("reply %d", i), root.ID)
			replies = append(replies, p.ID)
			if i == 1 {
				first = p
			}
		}
		// A reply to a reply joins the thread of its parent.
		nested := post(bobWS, "nested", "to a reply", first.ID)
		if nested.ParentID != root.ID {
			t.Errorf("reply to a reply has parent %q, want %s", nested.ParentID, root.ID)
		}
		var got []wall.Post
		after := ""
		for pages := 0; pages < 10; pages++ {
			var page servertest.PostsPage
			if status := bob.Call(http.MethodGet, "/posts/"+root.ID+"/replies?limit=7&after="+after, nil, &page); status != http.StatusOK {
				t.Fatalf("page %d: status %d %+v", pages, status, page.Error)
			}
			got = append(got, page.Posts...)
			if after = page.Next; after == "" {
				break
			}
		}
		if len(got) != 31 {
			t.Fatalf("%d replies paged, want 31", len(got))
		}
		for i := 1; i < len(got); i++ {
			if got[i].ID <= got[i-1].ID || got[i].ParentID != root.ID {
				t.Fatalf("replies out of order or of another thread at %d: %+v", i, got[i])
			}
		}
		var one struct{ Post wall.Post }
		if status := bob.Call(http.MethodGet, "/posts/"+root.ID, nil, &one); status != http.StatusOK || one.Post.ReplyCount != 31 {
			t.Errorf("GET the root: %d %+v, want 31 replies", status, one.Post)
		}
		var feed servertest.PostsPage
		bob.Call(http.MethodGet, "/posts?limit=100", nil, &feed)
		for _, p := range feed.Posts {
			if p.ParentID != "" {
				t.Errorf("the feed lists reply %s", p.ID)
			}
		}
	})

	t.Run("50 concurrent like toggles from 5 users end with exact counts", func(t *testing.T) {
		target := post(aliceWS, "likeable", "Like me", "")
		sockets := make([]*servertest.Socket, len(users))
		for i, u := range users {
			sockets[i] = u.Dial()
		}
		// Each user toggles ten times: like, unlike, ... and likes once more
		// at the end when i is even: users 0, 2 and 4 end liking it.
		var wg sync.WaitGroup
		errs := make(chan error, len(users))
		for i, s := range sockets {
			wg.Go(func() {
				for k := range 10 {
					act := wall.ActionLike
					if k%2 == 1 {
						act = wall.ActionUnlike
					}
					if k == 9 && i%2 == 0 {
						act = wall.ActionLike
					}
					id := fmt.Sprintf("t-%d-%d", i, k)
					ctx, cancel := context.WithTimeout(context.Background(), servertest.Wait)
					err := s.Write(ctx, map[string]any{"action": act, "requestId": id, "id": target.ID})
					if err == nil {
						var f servertest.Frame
						f, err = s.Reply(ctx, id)
						if err == nil && f.Type != wall.FrameAck {
							err = fmt.Errorf("%s: %s", id, f.Raw)
						}
					}
					cancel()
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for i, u := range users {
			var one struct{ Post wall.Post }
			if status := u.Call(http.MethodGet, "/posts/"+target.ID, nil, &one); status != http.StatusOK || one.Post.LikeCount != 3 ||
				one.Post.Liked != wall.LikingOf(i%2 == 0) {
				t.Errorf("%s sees %d %+v, want 3 likes, liked %v", u.Name, status, one.Post, i%2 == 0)
			}
		}
		// Everyone hears counts; the last one heard carries the final count.
		ctx, cancel := context.WithTimeout(context.Background(), servertest.Wait)
		defer cancel()
		if _, err := bobWS.Await(ctx, func(f servertest.Frame) bool {
			return f.Type == wall.FrameCounts && f.ID == target.ID && f.LikeCount == 3
		}); err != nil {
			t.Errorf("bob never heard the final counts: %v", err)
		}
		// Alice was notified of each liker once, however often they toggled.
		var page servertest.NotificationsPage
		alice.Call(http.MethodGet, "/notifications?limit=100", nil, &page)
		likers := map[string]int{}
		for _, n := range page.Notifications {
			if n.Kind == wall.NotifyLike && n.PostID == target.ID {
				likers[n.Actor]++
			}
		}
		if len(likers) != 4 {
			t.Errorf("like notifications by %v, want one by each of the 4 others", likers)
		}
		for actor, n := range likers {
			if n != 1 || actor == "alice" {
				t.Errorf("%s notified %d times", actor, n)
			}
		}
	})

	t.Run("notifications read and unread", func(t *testing.T) {
		var page servertest.NotificationsPage
		if status := alice.Call(http.MethodGet, "/notifications?limit=2", nil, &page); status != http.StatusOK || len(page.Notifications) != 2 || page.Next == "" {
			t.Fatalf("first page: %d %+v", status, page)
		}
		total := page.Unread
		if total < 5 {
			t.Fatalf("unread %d, want the reply, the replies and the likes", total)
		}
		newest, second := page.Notifications[0], page.Notifications[1]
		var read struct{ Unread *int }
		if status := alice.Call(http.MethodPost, "/notifications/read", map[string]string{"upTo": second.ID}, &read); status != http.StatusOK || read.Unread == nil || *read.Unread != 1 {
			t.Fatalf("mark read up to the second newest: %d unread %v, want 1 (the newest)", status, read.Unread)
		}
		alice.Call(http.MethodGet, "/notifications?limit=2", nil, &page)
		if page.Unread != 1 || page.Notifications[0].ID != newest.ID || page.Notifications[0].Read || !page.Notifications[1].Read {
			t.Errorf("after marking: %+v", page)
		}
		var bobs servertest.NotificationsPage
		bob.Call(http.MethodGet, "/notifications", nil, &bobs)
		if bobs.Unread == 0 {
			t.Error("alice's reading marked bob's notifications read")
		}
		if status := alice.Call(http.MethodPost, "/notifications/read", map[string]string{"upTo": "nope"}, nil); status != http.StatusBadRequest {
			t.Errorf("upTo nope: %d, want 400", status)
		}
	})

	t.Run("deleting a post takes its replies with it", func(t *testing.T) {
		parent := post(bobWS, "doomed", "short-lived", "")
		reply := post(aliceWS, "doomed-reply", "so long", parent.ID)
		if f := send(bobWS, map[string]any{"action": wall.ActionDeletePost, "requestId": "del-doomed", "id": parent.ID}); f.Type != wall.FrameAck {
			t.Fatalf("delete: %s", f.Raw)
		}
		for _, path := range []string{"/posts/" + parent.ID, "/posts/" + reply.ID, "/posts/" + parent.ID + "/replies"} {
			if status := alice.Call(http.MethodGet, path, nil, nil); status != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", path, status)
			}
		}
		if f := send(aliceWS, map[string]any{"action": wall.ActionSendPost, "requestId": "late-reply", "text": "too late", "parentId": parent.ID}); f.Type != wall.FrameError || f.Code != wall.ENOTFOUND {
			t.Errorf("reply to a deleted post: %s, want not_found", f.Raw)
		}
	})
}

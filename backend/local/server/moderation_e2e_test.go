package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/local/server"
	"github.com/postwall/postwall/backend/local/server/servertest"
	"github.com/postwall/postwall/backend/wall"
)

type reportsPage struct {
	Reports []wall.Report `json:"reports"`
	Next    *string       `json:"next"`
	Error   struct {
		Code string `json:"code"`
	} `json:"error"`
}

// TestModerationEndToEnd drives contract section 9 through the real server:
// an admin named by Config.Admins (-admins) deletes another's post and every
// socket hears it; a non-admin may not; reports count once per user and post;
// only admins read them.
func TestModerationEndToEnd(t *testing.T) {
	srv := start(t, server.Config{DataDir: t.TempDir(), PostLimit: 1000, PostWindow: time.Minute,
		Admins: []string{"Moderator"}, Log: testLogger(t)})
	base := srv.BaseURL

	mod := servertest.NewUser(t, base, "moderator")
	alice := servertest.NewUser(t, base, "alice")
	bob := servertest.NewUser(t, base, "bob")
	for _, u := range []*servertest.User{mod, alice, bob} {
		u.SignUp()
	}
	modWS, aliceWS, bobWS := mod.Dial(), alice.Dial(), bob.Dial()

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
	report := func(s *servertest.Socket, requestID, id, reason string) servertest.Frame {
		t.Helper()
		return send(s, map[string]any{"action": wall.ActionReport, "requestId": requestID, "id": id, "reason": reason})
	}
	listReports := func(u *servertest.User, query string) (int, reportsPage) {
		t.Helper()
		var page reportsPage
		status := u.Call(http.MethodGet, "/reports"+query, nil, &page)
		return status, page
	}

	ack := send(aliceWS, map[string]any{"action": wall.ActionSendPost, "requestId": "p1", "text": "something to moderate"})
	if ack.Type != wall.FrameAck {
		t.Fatalf("sendpost: %s", ack.Raw)
	}
	post := ack.Post

	t.Run("a non-admin may not delete another's post", func(t *testing.T) {
		f := send(bobWS, map[string]any{"action": wall.ActionDeletePost, "requestId": "bob-del", "id": post.ID})
		if f.Type != wall.FrameError || f.Code != wall.EFORBIDDEN {
			t.Fatalf("bob's delete: %s, want forbidden", f.Raw)
		}
		if status, page := alice.ListPosts(""); status != http.StatusOK || len(page.Posts) != 1 || page.Posts[0].ID != post.ID {
			t.Fatalf("after bob's delete: status %d, posts %+v", status, page.Posts)
		}
	})

	t.Run("reports count once per user and post", func(t *testing.T) {
		for _, r := range []struct {
			s           *servertest.Socket
			rid, reason string
		}{
			{bobWS, "bob-r1", "spam"},
			{bobWS, "bob-r1", "spam"},            // a retry
			{bobWS, "bob-r2", "changed my mind"}, // another request: the first reason stays
			{modWS, "mod-r1", ""},
		} {
			f := report(r.s, r.rid, post.ID, r.reason)
			if f.Type != wall.FrameAck || f.RequestID == nil || *f.RequestID != r.rid {
				t.Fatalf("report %s: %s, want an ack", r.rid, f.Raw)
			}
		}
		status, page := listReports(mod, "")
		if status != http.StatusOK || page.Next == nil || *page.Next != "" {
			t.Fatalf("admin's listing: status %d, %+v", status, page)
		}
		if len(page.Reports) != 2 {
			t.Fatalf("%d reports, want 2: %+v", len(page.Reports), page.Reports)
		}
		// Newest first.
		first, second := page.Reports[0], page.Reports[1]
		if first.Reporter != "moderator" || second.Reporter != "bob" || second.Reason != "spam" ||
			first.PostID != post.ID || second.PostID != post.ID || first.ID <= second.ID {
			t.Errorf("reports %+v, want moderator's then bob's with his first reason", page.Reports)
		}
		// Paging: one a page.
		status, one := listReports(mod, "?limit=1")
		if status != http.StatusOK || len(one.Reports) != 1 || one.Next == nil || *one.Next != first.ID {
			t.Fatalf("first page: status %d, %+v", status, one)
		}
		status, rest := listReports(mod, "?limit=1&before="+*one.Next)
		if status != http.StatusOK || len(rest.Reports) != 1 || rest.Reports[0].ID != second.ID || rest.Next == nil || *rest.Next != "" {
			t.Errorf("second page: status %d, %+v", status, rest)
		}
		if f := report(bobWS, "bad", post.ID, strings.Repeat("x", wall.MaxReasonLength+1)); f.Type != wall.FrameError || f.Code != wall.EINVALID {
			t.Errorf("a too long reason: %s", f.Raw)
		}
	})

	t.Run("reports are refused to non-admins", func(t *testing.T) {
		for _, u := range []*servertest.User{alice, bob} {
			// Bad parameters too: who may ask comes before what is asked.
			for _, q := range []string{"", "?limit=0", "?before=nope"} {
				status, page := listReports(u, q)
				if status != http.StatusForbidden || page.Error.Code != wall.EFORBIDDEN || len(page.Reports) != 0 {
					t.Errorf("%s's listing%s: status %d, %+v; want 403 forbidden", u.Name, q, status, page)
				}
			}
		}
	})

	t.Run("an admin deletes another's post and everyone hears it", func(t *testing.T) {
		f := send(modWS, map[string]any{"action": wall.ActionDeletePost, "requestId": "mod-del", "id": post.ID})
		if f.Type != wall.FrameAck || f.Post.ID != post.ID || f.Post.Author != "alice" {
			t.Fatalf("admin's delete: %s, want an ack with alice's post", f.Raw)
		}
		for name, s := range map[string]*servertest.Socket{"moderator": modWS, "alice": aliceWS, "bob": bobWS} {
			if d := s.Next(wall.FrameDeleted); d.ID != post.ID {
				t.Errorf("%s heard %s, want %s deleted", name, d.Raw, post.ID)
			}
		}
		if status, page := bob.ListPosts(""); status != http.StatusOK || len(page.Posts) != 0 {
			t.Errorf("after the admin's delete: status %d, posts %+v", status, page.Posts)
		}
		if f := report(bobWS, "late", post.ID, ""); f.Type != wall.FrameError || f.Code != wall.ENOTFOUND {
			t.Errorf("reporting a deleted post: %s, want not_found", f.Raw)
		}
	})
}

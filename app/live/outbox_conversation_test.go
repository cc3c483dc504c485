package live

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/postwall/postwall/app/storage"
	"github.com/postwall/postwall/backend/wall"
)

// Likes and replies made offline wait in the outbox, keep their requestIds
// across a reopen (a reload), and go out as the contract's frames.
func TestOutboxHoldsLikesAndReplies(t *testing.T) {
	store := storage.NewMemory()
	ob := OpenOutbox(store, "sub-1")
	now := time.Unix(1700000000, 0)
	reply, err := ob.AddReply("  a reply  ", "P1", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ob.SetLike("P1", true, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// Unliking before the like was sent replaces it: only the last wish goes.
	unlike, err := ob.SetLike("P1", false, now.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	items := OpenOutbox(store, "sub-1").Items()
	if len(items) != 2 || items[0].RequestID != reply.RequestID || items[1].RequestID != unlike.RequestID {
		t.Fatalf("outbox after reopening: %+v", items)
	}
	var f map[string]string
	if err := json.Unmarshal(items[0].Frame(), &f); err != nil {
		t.Fatal(err)
	}
	if f["action"] != wall.ActionSendPost || f["parentId"] != "P1" || f["text"] != "a reply" || f["requestId"] != reply.RequestID {
		t.Fatalf("reply frame %v", f)
	}
	f = nil
	if err := json.Unmarshal(items[1].Frame(), &f); err != nil {
		t.Fatal(err)
	}
	if f["action"] != wall.ActionUnlike || f["id"] != "P1" || f["requestId"] != unlike.RequestID || f["text"] != "" {
		t.Fatalf("unlike frame %v", f)
	}
	if _, err := ob.AddReply("   ", "P1", now); err == nil {
		t.Fatal("an empty reply was kept")
	}
}

func TestReportFrameAlwaysHasAReason(t *testing.T) {
	var f map[string]any
	if err := json.Unmarshal(ReportFrame("r1", "P1", ""), &f); err != nil {
		t.Fatal(err)
	}
	if f["action"] != wall.ActionReport || f["id"] != "P1" || f["reason"] != "" {
		t.Fatalf("report frame %v", f)
	}
}

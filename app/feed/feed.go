// Package feed is the wall as one browser tab holds it: posts newest first,
// merged from pages, catch-ups and live frames and de-duplicated by id, with
// the cursors to read older posts and to catch up after a reconnect.
package feed

import (
	"slices"
	"strings"

	"github.com/postwall/postwall/backend/wall"
)

// Feed holds posts newest first. It is not safe for concurrent use; its owner
// serialises access.
type Feed struct {
	posts   []wall.Post         // newest first (descending id)
	ids     map[string]struct{} // ids in posts
	deleted map[string]struct{} // ids deleted while this tab watched: a late page must not bring them back
	older   string              // cursor for the next older page; "" with olderDone means none
	loaded  bool                // a first page arrived: older is meaningful
}

// Posts returns a copy of the posts, newest first.
func (f *Feed) Posts() []wall.Post { return slices.Clone(f.posts) }

// Len is the number of posts held.
func (f *Feed) Len() int { return len(f.posts) }

// Merge adds posts it does not hold yet, keeping newest first, and reports
// whether anything changed. A post with an id already held replaces it (the
// server's copy is the truth).
func (f *Feed) Merge(posts ...wall.Post) bool {
	if f.ids == nil {
		f.ids = make(map[string]struct{})
	}
	changed := false
	for _, p := range posts {
		if p.ID == "" || p.ParentID != "" {
			continue // replies live in their thread, never in the feed
		}
		if _, gone := f.deleted[p.ID]; gone {
			continue
		}
		if _, held := f.ids[p.ID]; held {
			i := slices.IndexFunc(f.posts, func(q wall.Post) bool { return q.ID == p.ID })
			if q := f.posts[i]; Newer(q, p) != q {
				f.posts[i] = Newer(q, p)
				changed = true
			}
			continue
		}
		f.ids[p.ID] = struct{}{}
		// Most merges are at the front (live posts) or the back (older pages).
		i, _ := slices.BinarySearchFunc(f.posts, p.ID, func(q wall.Post, id string) int {
			return -strings.Compare(q.ID, id)
		})
		f.posts = slices.Insert(f.posts, i, p)
		changed = true
	}
	return changed
}

// Newer is the server's copy p replacing held: a broadcast says nothing of
// whether this user likes the post, so what was known of it stays.
func Newer(held, p wall.Post) wall.Post {
	if p.Liked == wall.LikedUnknown {
		p.Liked = held.Liked
	}
	return p
}

// SetCounts sets the counts of the post id (a counts frame) and reports
// whether it is held.
func (f *Feed) SetCounts(id string, replies, likes int) bool {
	i := slices.IndexFunc(f.posts, func(q wall.Post) bool { return q.ID == id })
	if i < 0 {
		return false
	}
	f.posts[i].ReplyCount, f.posts[i].LikeCount = max(replies, 0), max(likes, 0)
	return true
}

// Remove drops the post with id and remembers it is gone; it reports whether
// it was held.
func (f *Feed) Remove(id string) bool {
	if f.deleted == nil {
		f.deleted = make(map[string]struct{})
	}
	f.deleted[id] = struct{}{}
	if _, held := f.ids[id]; !held {
		return false
	}
	delete(f.ids, id)
	f.posts = slices.DeleteFunc(f.posts, func(p wall.Post) bool { return p.ID == id })
	return true
}

// Newest returns the newest post held.
func (f *Feed) Newest() (wall.Post, bool) {
	if len(f.posts) == 0 {
		return wall.Post{}, false
	}
	return f.posts[0], true
}

// CatchUpCursor is the "after" id for a catch-up: the smallest id of
// wall.CatchUpWindow before the createdAt of the newest post held. Ids made by
// concurrent writers are not committed in id order: a post with an older id
// may have been stored after the newest one seen, though no later than the
// server's visibility bound. Empty when nothing is held (then read the newest
// page instead).
func (f *Feed) CatchUpCursor() string {
	p, ok := f.Newest()
	if !ok {
		return ""
	}
	t := p.CreatedAt
	if t.IsZero() {
		t, _ = wall.IDTime(p.ID)
	}
	cursor := wall.MinIDAt(t.Add(-wall.CatchUpWindow))
	// Posts older than the oldest held are the older pages' business (they
	// continue from it, and so also find a late post with a smaller id): a
	// catch-up that fetched them would fill the feed with a page no one
	// scrolled to.
	if oldest := f.posts[len(f.posts)-1].ID; cursor < oldest {
		cursor = oldest
	}
	return cursor
}

// SetOlder records the cursor for the next older page ("" when the oldest
// post has been reached).
func (f *Feed) SetOlder(next string) {
	f.older, f.loaded = next, true
}

// Older returns the cursor of the next older page and whether there is one.
func (f *Feed) Older() (string, bool) {
	if !f.loaded {
		// Nothing read from the server yet (maybe posts from the cache):
		// older pages continue from the oldest post held.
		if len(f.posts) == 0 {
			return "", false
		}
		return f.posts[len(f.posts)-1].ID, true
	}
	return f.older, f.older != ""
}

// Reset replaces everything with one newest page, as after a long absence
// where catching up would cost more than starting again.
func (f *Feed) Reset(posts []wall.Post, next string) {
	deleted := f.deleted
	*f = Feed{deleted: deleted}
	f.Merge(posts...)
	f.SetOlder(next)
}

// Trim returns at most n newest posts: what is worth keeping for the next
// visit.
func (f *Feed) Trim(n int) []wall.Post {
	if len(f.posts) > n {
		return slices.Clone(f.posts[:n])
	}
	return slices.Clone(f.posts)
}

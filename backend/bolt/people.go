package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/postwall/postwall/backend/wall"
)

var (
	_ wall.ProfileStore = (*DB)(nil)
	_ wall.UploadStore  = (*DB)(nil)
)

// Profiles, a user's posts, and uploads (contract section 8).
//
// A user's posts are the author index, sub + NUL + post id -> where the post
// lives, written and deleted in the transactions that write and delete the
// posts (a thread's replies with their parent): a page is a seek to sub +
// NUL + before and a walk back of at most Limit+1 keys, one Get each, however
// many posts the user or the wall has (see BenchmarkListUserPosts). The post
// count is kept beside it, in post_counts, by the same transactions, so it
// never drifts from the index; the profile's other fields are apart, in
// profiles, so that a post does not rewrite them.

// Where an author index entry's post lives.
var (
	inPosts   = []byte{'p'}
	inReplies = []byte{'r'}
)

// authorKey is p's key in its author's index.
func authorKey(sub, id string) []byte {
	return append(authorPrefix(sub), id...)
}

// authorPrefix starts the keys of sub's posts; NUL ends the sub, so that one
// sub is never a prefix of another's keys.
func authorPrefix(sub string) []byte { return append([]byte(sub), 0) }

// indexByAuthor puts p in its author's index and counts it.
func indexByAuthor(tx *bbolt.Tx, p wall.Post) error {
	if p.AuthorSub == "" {
		return nil // only posts from before subjects were stored; nobody can list them by author
	}
	where := inPosts
	if p.ParentID != "" {
		where = inReplies
	}
	if err := tx.Bucket(bucketAuthorPosts).Put(authorKey(p.AuthorSub, p.ID), where); err != nil {
		return err
	}
	return addPostCount(tx, p.AuthorSub, 1)
}

// unindexByAuthor takes p out of its author's index and its count, if it is
// there: so a post is uncounted once, however it goes.
func unindexByAuthor(tx *bbolt.Tx, p wall.Post) error {
	if p.AuthorSub == "" {
		return nil
	}
	index, key := tx.Bucket(bucketAuthorPosts), authorKey(p.AuthorSub, p.ID)
	if index.Get(key) == nil {
		return nil
	}
	if err := index.Delete(key); err != nil {
		return err
	}
	return addPostCount(tx, p.AuthorSub, -1)
}

func postCount(tx *bbolt.Tx, sub string) (int, bool) {
	v := tx.Bucket(bucketPostCounts).Get([]byte(sub))
	if len(v) != 8 {
		return 0, false
	}
	return int(binary.BigEndian.Uint64(v)), true
}

func setPostCount(tx *bbolt.Tx, sub string, n int) error {
	return tx.Bucket(bucketPostCounts).Put([]byte(sub), binary.BigEndian.AppendUint64(nil, uint64(max(n, 0))))
}

func addPostCount(tx *bbolt.Tx, sub string, delta int) error {
	n, _ := postCount(tx, sub)
	return setPostCount(tx, sub, n+delta)
}

// indexExistingPosts builds the author index and the post counts of a file
// written before they existed, in Open's transaction: a one-time walk of
// every post and reply. The counts bucket came with the index, so it starts
// empty and indexByAuthor's adds sum to each author's total.
func indexExistingPosts(tx *bbolt.Tx) error {
	for _, name := range [][]byte{bucketPosts, bucketReplies} {
		err := tx.Bucket(name).ForEach(func(k, v []byte) error {
			var r postRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("post %s: %w", k, err)
			}
			// Only the fields the index needs: a createdAt that would not
			// parse must not stop Open.
			return indexByAuthor(tx, wall.Post{ID: string(k), AuthorSub: r.AuthorSub, ParentID: r.ParentID})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// imageRecord is how an avatar or an upload's image is stored.
type imageRecord struct {
	URL         string `json:"url"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	Alt         string `json:"alt,omitempty"`
	Key         string `json:"key"`
	ContentType string `json:"type"`
}

func newImageRecord(im wall.Image) imageRecord {
	return imageRecord{URL: im.URL, Width: im.Width, Height: im.Height, Alt: im.Alt, Key: im.Key, ContentType: im.ContentType}
}

func (r imageRecord) image() wall.Image {
	return wall.Image{URL: r.URL, Width: r.Width, Height: r.Height, Alt: r.Alt, Key: r.Key, ContentType: r.ContentType}
}

// profileRecord is a stored profile, without its count (post_counts).
type profileRecord struct {
	Username    string      `json:"username"`
	DisplayName string      `json:"displayName,omitempty"`
	Bio         string      `json:"bio,omitempty"`
	Avatar      imageRecord `json:"avatar,omitzero"`
}

// readProfile reads sub's profile; found is false, and the profile zero, when
// the user has neither a profile nor a count.
func readProfile(tx *bbolt.Tx, sub string) (p wall.Profile, found bool, err error) {
	p.Sub = sub
	p.PostCount, found = postCount(tx, sub)
	if v := tx.Bucket(bucketProfiles).Get([]byte(sub)); v != nil {
		var r profileRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return wall.Profile{}, false, fmt.Errorf("decode the profile of %s: %w", sub, err)
		}
		p.Username, p.DisplayName, p.Bio, p.Avatar = r.Username, r.DisplayName, r.Bio, r.Avatar.image()
		found = true
	}
	if !found {
		return wall.Profile{}, false, nil
	}
	return p, true, nil
}

// Profiles returns the profiles of subs: one Get in each of two buckets per sub.
func (db *DB) Profiles(_ context.Context, subs []string) (map[string]wall.Profile, error) {
	out := make(map[string]wall.Profile, len(subs))
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		for _, sub := range subs {
			p, found, err := readProfile(tx, sub)
			if err != nil {
				return err
			}
			if found {
				out[sub] = p
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: profiles: %w", err)
	}
	return out, nil
}

// SaveProfile stores p's fields but its count, and returns the profile before.
func (db *DB) SaveProfile(ctx context.Context, p wall.Profile) (wall.Profile, error) {
	if p.Sub == "" {
		return wall.Profile{}, fmt.Errorf("store: save profile: no subject")
	}
	v, err := json.Marshal(profileRecord{Username: p.Username, DisplayName: p.DisplayName, Bio: p.Bio, Avatar: newImageRecord(p.Avatar)})
	if err != nil {
		return wall.Profile{}, fmt.Errorf("store: encode the profile of %s: %w", p.Sub, err)
	}
	var previous wall.Profile
	err = db.update(ctx, func(tx *bbolt.Tx) ([]wall.Change, error) {
		previous, _, err = readProfile(tx, p.Sub)
		if err != nil {
			return nil, err
		}
		return nil, tx.Bucket(bucketProfiles).Put([]byte(p.Sub), v)
	})
	if err != nil {
		return wall.Profile{}, fmt.Errorf("store: save the profile of %s: %w", p.Sub, err)
	}
	return previous, nil
}

// lastBefore puts c where a page walking back from before under prefix
// starts: just before the first key at or past prefix+before (past all of
// prefix if before is empty). That entry may lie outside prefix; callers stop
// at the first key without it.
func lastBefore(c *bbolt.Cursor, prefix []byte, before string) (k, v []byte) {
	bound := append(bytes.Clone(prefix), 0xff)
	if before != "" {
		bound = append(bytes.Clone(prefix), before...)
	}
	if k, _ := c.Seek(bound); k == nil {
		return c.Last()
	}
	return c.Prev()
}

// ListUserPosts returns one page of sub's live posts and replies, newest
// first, older than q.Before: a seek in the author index and a walk back.
func (db *DB) ListUserPosts(_ context.Context, sub string, q wall.PostQuery) ([]wall.Post, string, error) {
	if q.Limit < 1 || q.Limit > wall.MaxPageLimit {
		return nil, "", fmt.Errorf("store: list user posts: limit %d out of range", q.Limit)
	}
	if q.After != "" {
		return nil, "", fmt.Errorf("store: list user posts: after is not supported")
	}
	posts := make([]wall.Post, 0, min(q.Limit, 16))
	next := ""
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		prefix := authorPrefix(sub)
		c := tx.Bucket(bucketAuthorPosts).Cursor()
		k, where := lastBefore(c, prefix, q.Before)
		// Cursors rather than Gets: a Get makes a cursor of its own each time.
		feed, replies := tx.Bucket(bucketPosts).Cursor(), tx.Bucket(bucketReplies).Cursor()
		for ; bytes.HasPrefix(k, prefix) && len(posts) < q.Limit; k, where = c.Prev() {
			id := k[len(prefix):]
			b := feed
			if bytes.Equal(where, inReplies) {
				b = replies
			}
			found, v := b.Seek(id)
			if !bytes.Equal(found, id) {
				return fmt.Errorf("the index of %s lists post %s, which is not stored", sub, id)
			}
			p, err := decodePost(v)
			if err != nil {
				return fmt.Errorf("post %s: %w", id, err)
			}
			posts = append(posts, p)
		}
		if bytes.HasPrefix(k, prefix) && len(posts) > 0 {
			next = posts[len(posts)-1].ID
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("store: list the posts of %s: %w", sub, err)
	}
	return posts, next, nil
}

// Upload records live in uploads, keyed by id. One that was never used is
// gone for GetUpload, FinishUpload and ClaimUpload once it is older than
// wall.UnusedUploadLifetime (the upload bucket's lifecycle rule has deleted
// its bytes by then); pruning forgets every record RequestTTL after that,
// when no retried request can claim it again.

// uploadRecord is how an upload is stored.
type uploadRecord struct {
	ID          string      `json:"id"`
	Owner       string      `json:"owner"`
	ContentType string      `json:"contentType"`
	Size        int64       `json:"size"`
	CreatedAt   time.Time   `json:"createdAt"`
	State       string      `json:"state"`
	Image       imageRecord `json:"image,omitzero"`
	Reason      string      `json:"reason,omitempty"`
	UsedBy      string      `json:"usedBy,omitempty"`
}

func newUploadRecord(u wall.Upload) uploadRecord {
	return uploadRecord{ID: u.ID, Owner: u.Owner, ContentType: u.ContentType, Size: u.Size, CreatedAt: u.CreatedAt.UTC(),
		State: u.State, Image: newImageRecord(u.Image), Reason: u.Reason, UsedBy: u.UsedBy}
}

func (r uploadRecord) upload() wall.Upload {
	return wall.Upload{ID: r.ID, Owner: r.Owner, ContentType: r.ContentType, Size: r.Size, CreatedAt: r.CreatedAt,
		State: r.State, Image: r.Image.image(), Reason: r.Reason, UsedBy: r.UsedBy}
}

// forgetUploadsAfter is how old an upload record is when pruning forgets it.
const forgetUploadsAfter = wall.UnusedUploadLifetime + RequestTTL

func uploadNotFound(id string) error {
	return wall.Errorf(wall.ENOTFOUND, "There is no upload %s (uploads never used expire after a day).", id)
}

// readUpload reads the upload id as of now; ENOTFOUND when it is absent or
// expired unused.
func readUpload(tx *bbolt.Tx, id string, now time.Time) (wall.Upload, error) {
	v := tx.Bucket(bucketUploads).Get([]byte(id))
	if v == nil {
		return wall.Upload{}, uploadNotFound(id)
	}
	var r uploadRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return wall.Upload{}, fmt.Errorf("decode upload %s: %w", id, err)
	}
	u := r.upload()
	if u.State != wall.UploadUsed && now.Sub(u.CreatedAt) > wall.UnusedUploadLifetime {
		return wall.Upload{}, uploadNotFound(id)
	}
	return u, nil
}

func writeUpload(tx *bbolt.Tx, u wall.Upload) error {
	v, err := json.Marshal(newUploadRecord(u))
	if err != nil {
		return err
	}
	return tx.Bucket(bucketUploads).Put([]byte(u.ID), v)
}

// PutUpload stores the new upload u.
func (db *DB) PutUpload(ctx context.Context, u wall.Upload) error {
	if !wall.ValidID(u.ID) {
		return fmt.Errorf("store: put upload: %q is not an upload id", u.ID)
	}
	err := db.update(ctx, func(tx *bbolt.Tx) ([]wall.Change, error) {
		if tx.Bucket(bucketUploads).Get([]byte(u.ID)) != nil {
			return nil, fmt.Errorf("upload id %s already taken", u.ID)
		}
		return nil, writeUpload(tx, u)
	})
	if err != nil {
		return fmt.Errorf("store: put upload %s: %w", u.ID, err)
	}
	return nil
}

// GetUpload returns the upload id.
func (db *DB) GetUpload(_ context.Context, id string) (wall.Upload, error) {
	var u wall.Upload
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		var err error
		u, err = readUpload(tx, id, db.now())
		return err
	})
	return u, storeErr(err, "get upload %s", id)
}

// FinishUpload records the outcome of processing the pending upload id.
func (db *DB) FinishUpload(ctx context.Context, id string, done wall.Upload) (wall.Upload, error) {
	if done.State != wall.UploadReady && done.State != wall.UploadRejected {
		return wall.Upload{}, fmt.Errorf("store: finish upload %s: %q is not an outcome of processing", id, done.State)
	}
	var u wall.Upload
	err := db.update(ctx, func(tx *bbolt.Tx) ([]wall.Change, error) {
		var err error
		if u, err = readUpload(tx, id, db.now()); err != nil || u.State != wall.UploadPending {
			return nil, err
		}
		u.State = done.State
		if done.State == wall.UploadReady {
			u.Image = done.Image
		} else {
			u.Reason = done.Reason
		}
		return nil, writeUpload(tx, u)
	})
	if err != nil {
		return wall.Upload{}, storeErr(err, "finish upload %s", id)
	}
	return u, nil
}

// ClaimUpload marks the ready upload id of owner's used by use, in one
// transaction: of concurrent claims for different uses, the first to commit
// wins and the others find it used.
func (db *DB) ClaimUpload(ctx context.Context, id, owner, use string) (wall.Upload, error) {
	var u wall.Upload
	err := db.update(ctx, func(tx *bbolt.Tx) ([]wall.Change, error) {
		var err error
		if u, err = readUpload(tx, id, db.now()); err != nil {
			return nil, err
		}
		switch {
		case u.Owner != owner:
			return nil, wall.Errorf(wall.EINVALID, "Upload %s is not yours.", id)
		case u.State == wall.UploadUsed && u.UsedBy == use:
			return nil, nil // a retried request
		case u.State == wall.UploadUsed:
			return nil, wall.Errorf(wall.EINVALID, "Upload %s is already used.", id)
		case u.State != wall.UploadReady:
			return nil, wall.Errorf(wall.EINVALID, "Upload %s is %s, not ready.", id, u.State)
		}
		u.State, u.UsedBy = wall.UploadUsed, use
		return nil, writeUpload(tx, u)
	})
	if err != nil {
		return wall.Upload{}, storeErr(err, "claim upload %s", id)
	}
	return u, nil
}

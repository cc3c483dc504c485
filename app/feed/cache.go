package feed

import (
	"fmt"

	"github.com/postwall/postwall/app/storage"
	"github.com/postwall/postwall/backend/wall"
)

// CacheKey is where the last posts seen are kept, for the offline shell.
const CacheKey = "postwall.feed"

// CacheSize is how many of the newest posts are kept.
const CacheSize = 50

// SaveCache keeps the newest posts for the next visit.
func SaveCache(s storage.Storage, f *Feed) error {
	if err := s.Set(CacheKey, f.Trim(CacheSize)); err != nil {
		return fmt.Errorf("keeping the last posts seen: %w", err)
	}
	return nil
}

// LoadCache reads the posts kept by SaveCache (none if there are none or they
// cannot be read: a cache is never worth an error on screen).
func LoadCache(s storage.Storage) []wall.Post {
	var posts []wall.Post
	if err := s.Get(CacheKey, &posts); err != nil {
		return nil
	}
	return posts
}

package feed

import (
	"fmt"

	"github.com/postwall/postwall/backend/wall"
)

// Storage keeps JSON values by key (the browser's localStorage through
// go-app's app.BrowserStorage).
type Storage interface {
	Get(key string, v any) error
	Set(key string, v any) error
	Del(key string)
}

// CacheKey is where the last posts seen are kept, for the offline shell.
const CacheKey = "postwall.feed"

// CacheSize is how many of the newest posts are kept.
const CacheSize = 50

// SaveCache keeps the newest posts for the next visit.
func SaveCache(s Storage, f *Feed) error {
	if err := s.Set(CacheKey, f.Trim(CacheSize)); err != nil {
		return fmt.Errorf("keeping the last posts seen: %w", err)
	}
	return nil
}

// LoadCache reads the posts kept by SaveCache (none if there are none or they
// cannot be read: a cache is never worth an error on screen).
func LoadCache(s Storage) []wall.Post {
	var posts []wall.Post
	if err := s.Get(CacheKey, &posts); err != nil {
		return nil
	}
	return posts
}

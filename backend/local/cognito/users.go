package cognito

import (
	"context"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/postwall/postwall/backend/wall"
)

// LookupUsers returns those of usernames that are signed-up users, as
// wall.UserDirectory asks (for @mentions and profiles): one read of the users bucket,
// whose keys are the folded usernames.
func (s *Server) LookupUsers(_ context.Context, usernames []string) ([]wall.Member, error) {
	var found []wall.Member
	err := s.store.db.View(func(tx *bbolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		for _, name := range usernames {
			var u user
			ok, err := getJSON(users, []byte(foldUsername(name)), &u)
			if err != nil {
				return fmt.Errorf("read user %q: %w", name, err)
			}
			if ok {
				found = append(found, wall.Member{Identity: wall.Identity{Sub: u.Sub, Username: u.Username}, JoinedAt: u.CreatedAt})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cognito: look up users: %w", err)
	}
	return found, nil
}

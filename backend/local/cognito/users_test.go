package cognito_test

import (
	"context"
	"slices"
	"testing"

	"github.com/postwall/postwall/backend/wall"
)

func TestLookupUsersFindsSignedUpUsersOnly(t *testing.T) {
	e := newEnv(t)
	e.signUp("Ada_Lovelace", "ada@example.com", "correct horse battery staple 1A!")
	e.signUp("bob", "bob@example.com", "correct horse battery staple 1A!")

	var _ wall.UserDirectory = e.srv
	got, err := e.srv.LookupUsers(context.Background(), []string{"ada_lovelace", "nobody", "bob"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range got {
		if u.Sub == "" || u.JoinedAt.IsZero() {
			t.Errorf("user %+v without a sub or a join date", u)
		}
		names = append(names, u.Username)
	}
	if !slices.Equal(names, []string{"ada_lovelace", "bob"}) {
		t.Errorf("found %v, want ada_lovelace and bob, not nobody", names)
	}
	if none, err := e.srv.LookupUsers(context.Background(), nil); err != nil || len(none) != 0 {
		t.Errorf("no names: %v, %v", none, err)
	}
}

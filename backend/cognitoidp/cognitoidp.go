// Package cognitoidp finds users in an Amazon Cognito user pool:
// wall.UserDirectory for AWS, where the users live in the pool itself.
package cognitoidp

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/postwall/postwall/backend/wall"
)

// Directory is wall.UserDirectory over a user pool, with AdminGetUser: one
// call per name (a text mentions at most wall.MaxMentions names; a page of
// posts has at most wall.MaxUsersPerLookup authors). Users
// that are disabled or not confirmed are not mentioned.
type Directory struct {
	Client     *cognitoidentityprovider.Client
	UserPoolID string
}

var _ wall.UserDirectory = (*Directory)(nil)

// lookupConcurrency bounds the AdminGetUser calls in flight for one lookup: a
// page's authors (up to wall.MaxUsersPerLookup) cost about a tenth of the
// calls' time, well inside the user pool's read quota (120 a second).
const lookupConcurrency = 10

// LookupUsers implements wall.UserDirectory: one AdminGetUser per name, up to
// lookupConcurrency at a time, answered in the order asked.
func (d *Directory) LookupUsers(ctx context.Context, usernames []string) ([]wall.Member, error) {
	found := make([]*wall.Member, len(usernames))
	errs := make([]error, len(usernames))
	sem := make(chan struct{}, lookupConcurrency)
	var wg sync.WaitGroup
	for i, name := range usernames {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			found[i], errs[i] = d.lookup(ctx, name)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var users []wall.Member
	for _, m := range found {
		if m != nil {
			users = append(users, *m)
		}
	}
	return users, nil
}

// lookup finds one user; nil when there is none (or they cannot sign in).
func (d *Directory) lookup(ctx context.Context, name string) (*wall.Member, error) {
	out, err := d.Client.AdminGetUser(ctx, &cognitoidentityprovider.AdminGetUserInput{
		UserPoolId: aws.String(d.UserPoolID),
		Username:   aws.String(name),
	})
	var missing *types.UserNotFoundException
	if errors.As(err, &missing) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up user %q: %w", name, err)
	}
	if !out.Enabled || out.UserStatus != types.UserStatusTypeConfirmed {
		return nil, nil
	}
	sub := ""
	for _, a := range out.UserAttributes {
		if aws.ToString(a.Name) == "sub" {
			sub = aws.ToString(a.Value)
		}
	}
	if sub == "" {
		return nil, fmt.Errorf("user %q has no sub attribute", name)
	}
	return &wall.Member{Identity: wall.Identity{Sub: sub, Username: aws.ToString(out.Username)},
		JoinedAt: aws.ToTime(out.UserCreateDate).UTC()}, nil
}

// Package cognitoidp finds users in an Amazon Cognito user pool:
// wall.UserDirectory for AWS, where the users live in the pool itself.
package cognitoidp

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/postwall/postwall/backend/wall"
)

// Directory is wall.UserDirectory over a user pool, with AdminGetUser: one
// call per name, and a text mentions at most wall.MaxMentions names. Users
// that are disabled or not confirmed are not mentioned.
type Directory struct {
	Client     *cognitoidentityprovider.Client
	UserPoolID string
}

var _ wall.UserDirectory = (*Directory)(nil)

// LookupUsers implements wall.UserDirectory.
func (d *Directory) LookupUsers(ctx context.Context, usernames []string) ([]wall.Member, error) {
	var users []wall.Member
	for _, name := range usernames {
		out, err := d.Client.AdminGetUser(ctx, &cognitoidentityprovider.AdminGetUserInput{
			UserPoolId: aws.String(d.UserPoolID),
			Username:   aws.String(name),
		})
		var missing *types.UserNotFoundException
		if errors.As(err, &missing) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("look up user %q: %w", name, err)
		}
		if !out.Enabled || out.UserStatus != types.UserStatusTypeConfirmed {
			continue
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
		users = append(users, wall.Member{Identity: wall.Identity{Sub: sub, Username: aws.ToString(out.Username)},
			JoinedAt: aws.ToTime(out.UserCreateDate).UTC()})
	}
	return users, nil
}

package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/postwall/postwall/backend/wall"
)

// RateLimiter is wall.RateLimiter on the limits table: a fixed-window counter per
// key, shared by every Lambda instance because it lives in DynamoDB.
//
// Each window is its own item, pk = "RL#"+key+"#"+window start in Unix
// milliseconds, so a new window starts at zero without a reset write, and the
// item expires by TTL when the window is long over. One conditional UpdateItem
// both checks and counts: "ADD n 1 if n < limit" is atomic on the server, so
// concurrent callers can never get more than Limit allowances per window, and a
// refused call does not count (a user who keeps trying is not locked out of the
// next window).
type RateLimiter struct {
	Client *dynamodb.Client
	Table  string
	Limit  int
	Window time.Duration
	Now    func() time.Time // nil: time.Now
}

var _ wall.RateLimiter = (*RateLimiter)(nil)

// NewRateLimiter allows limit actions per key in each window.
func NewRateLimiter(client *dynamodb.Client, table string, limit int, window time.Duration) *RateLimiter {
	return &RateLimiter{Client: client, Table: table, Limit: limit, Window: window}
}

// Allow implements wall.RateLimiter.
func (l *RateLimiter) Allow(ctx context.Context, key string) (bool, error) {
	if l.Limit <= 0 || l.Window <= 0 {
		return false, fmt.Errorf("rate limiter: limit %d per %v is not a limit", l.Limit, l.Window)
	}
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	start := now.Truncate(l.Window)
	// Kept one window past its end: clocks of Lambda instances differ a little,
	// and TTL deletion is lazy anyway.
	expires := start.Add(2 * l.Window)
	_, err := l.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(l.Table),
		Key:                      map[string]types.AttributeValue{attrPK: str(fmt.Sprintf("RL#%s#%d", key, start.UnixMilli()))},
		UpdateExpression:         aws.String("ADD #n :one SET #ttl = if_not_exists(#ttl, :ttl)"),
		ConditionExpression:      aws.String("attribute_not_exists(#n) OR #n < :limit"),
		ExpressionAttributeNames: map[string]string{"#n": "n", "#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one":   num(1),
			":limit": num(int64(l.Limit)),
			":ttl":   num(expires.Add(time.Second - 1).Unix()),
		},
	})
	if conditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("count %q in rate window: %w", key, err)
	}
	return true, nil
}

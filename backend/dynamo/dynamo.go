// Package dynamo implements Postwall's store ports on Amazon DynamoDB: the posts
// feed with its idempotency records (PostStore), the open WebSocket connections
// (ConnectionStore) and the per-user rate limit shared by every Lambda instance
// (RateLimiter).
//
// Three tables, all on-demand:
//
//	posts        pk (S) + sk (S); its stream (NEW_AND_OLD_IMAGES) drives the
//	             fan-out, decoded by StreamChange.
//	             - pk="FEED", sk=post id: a post (id, author, authorSub, text,
//	               createdAt, replyCount, likeCount, req = its request key),
//	               or a tombstone at the same key (deleted=true, ttl): a
//	               deleted post (its attributes kept, delReq = the delete's
//	               request key) or a void (void=true: an id a repair gave up).
//	             - pk="REQ#"+requestKey, sk="REQ", ttl: a sendpost's
//	               idempotency record, holding its post.
//	             - pk="DEL#"+requestKey, sk="DEL", ttl: a deletepost's
//	               idempotency record, holding the post as it was.
//	connections  id (S); ttl = expiresAt + 1 hour, in epoch seconds.
//	limits       pk (S) = "RL#"+key+"#"+window start; ttl.
//
// TTLs: REQ and DEL records live RequestTTL (24 hours) from their write;
// tombstones RequestTTL + 1 hour from the delete, so they outlive every REQ
// record that could name them; connections an hour past their expiry, so the
// sweeper still finds (and closes) them; rate windows one window past their end.
// Nothing relies on TTL deletion, which lags by up to days: a REQ or DEL record
// past its ttl counts as absent.
//
// Nothing here uses transactions (dynalite has none): every multi-item
// operation is ordered so that a crash between its writes leaves a state that
// a retry repairs.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// Tables names the three tables.
type Tables struct {
	Posts       string
	Connections string
	Limits      string
}

// CreateTables creates the tables that have a name in names, on-demand, with the
// posts stream and the TTL attributes, and waits until they are active. A table
// that already exists is left as it is. It is for tests and local use; in AWS the
// CDK stack owns the tables. Servers without TTL or streams (dynalite has
// neither) still get usable tables: those settings only matter in AWS.
func CreateTables(ctx context.Context, client *dynamodb.Client, names Tables) error {
	str := types.ScalarAttributeTypeS
	specs := []struct {
		name   string
		keys   []types.KeySchemaElement
		attrs  []types.AttributeDefinition
		stream bool
	}{
		{names.Posts,
			[]types.KeySchemaElement{{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash}, {AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange}},
			[]types.AttributeDefinition{{AttributeName: aws.String(attrPK), AttributeType: str}, {AttributeName: aws.String(attrSK), AttributeType: str}},
			true},
		{names.Connections,
			[]types.KeySchemaElement{{AttributeName: aws.String(attrConnID), KeyType: types.KeyTypeHash}},
			[]types.AttributeDefinition{{AttributeName: aws.String(attrConnID), AttributeType: str}},
			false},
		{names.Limits,
			[]types.KeySchemaElement{{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash}},
			[]types.AttributeDefinition{{AttributeName: aws.String(attrPK), AttributeType: str}},
			false},
	}
	for _, s := range specs {
		if s.name == "" {
			continue
		}
		in := &dynamodb.CreateTableInput{
			TableName:            aws.String(s.name),
			KeySchema:            s.keys,
			AttributeDefinitions: s.attrs,
			BillingMode:          types.BillingModePayPerRequest,
		}
		if s.stream {
			in.StreamSpecification = &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages}
		}
		if _, err := client.CreateTable(ctx, in); err != nil {
			var inUse *types.ResourceInUseException
			if !errors.As(err, &inUse) {
				return fmt.Errorf("create table %s: %w", s.name, err)
			}
		}
		waiter := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
			o.MinDelay, o.MaxDelay = 50*time.Millisecond, time.Second
		})
		if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.name)}, 2*time.Minute); err != nil {
			return fmt.Errorf("wait for table %s: %w", s.name, err)
		}
		_, err := client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName:               aws.String(s.name),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(attrTTL), Enabled: aws.Bool(true)},
		})
		if err != nil && !unsupported(err) && !ttlAlreadyOn(err) {
			return fmt.Errorf("enable TTL on table %s: %w", s.name, err)
		}
	}
	return nil
}

// unsupported reports an operation the server does not implement (dynalite
// answers UpdateTimeToLive this way).
func unsupported(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "UnknownOperationException"
}

// ttlAlreadyOn reports DynamoDB's refusal to enable TTL that is already on.
func ttlAlreadyOn(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "ValidationException" &&
		strings.Contains(strings.ToLower(api.ErrorMessage()), "already enabled")
}

// Attribute names shared by the tables.
const (
	attrPK     = "pk"
	attrSK     = "sk"
	attrTTL    = "ttl"
	attrConnID = "id"
)

// conditionFailed reports a failed ConditionExpression: the expected outcome of
// every conditional write here, not an error in itself.
func conditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func boolean(v bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: v} }

func getString(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getInt(item map[string]types.AttributeValue, name string) (int64, bool) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	return n, err == nil
}

func getBool(item map[string]types.AttributeValue, name string) bool {
	v, ok := item[name].(*types.AttributeValueMemberBOOL)
	return ok && v.Value
}

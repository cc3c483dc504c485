// Package dynamo implements Postwall's store ports on Amazon DynamoDB: the posts
// feed with its idempotency records, threads, likes, notifications and reports
// (PostStore, which also keeps profiles, a user's posts and upload records:
// wall.ProfileStore and wall.UploadStore), the open WebSocket connections
// (ConnectionStore) and the
// per-user rate limit shared by every Lambda instance (RateLimiter).
//
// Three tables, all on-demand:
//
//	posts        pk (S) + sk (S); its stream (NEW_AND_OLD_IMAGES) drives the
//	             fan-out, decoded by StreamChange.
//	             - pk="FEED", sk=post id: a top-level post (id, author,
//	               authorSub, text, createdAt, replyCount, likeCount,
//	               images = its wall.Images, req = its request key,
//	               authorKey = authorSub while live), or a tombstone at the same key
//	               (deleted=true, ttl): a deleted post (its attributes kept,
//	               delReq = the delete's request key) or a void (void=true:
//	               an id a repair gave up).
//	             - pk="THREAD#"+parent id, sk=reply id: a reply, as a FEED
//	               item plus parentId (tombstones alike). Its own partition,
//	               so the feed stays top-level and a thread page is one Query.
//	               orphaned=true (and no authorKey) once its parent's delete
//	               took it out of the author index.
//	             - pk="PROFILE#"+sub, sk="PROFILE": username, displayName,
//	               bio, avatar (a map: url, key, width, height, type) and
//	               postCount (the user's items that carry authorKey).
//	             - pk="UPLOAD#"+upload id, sk="UPLOAD": owner, contentType,
//	               size, createdAt, state, image (a map), reason, usedBy,
//	               and ttl (wall.UnusedUploadLifetime from createdAt) until
//	               it is used.
//	             - pk="REPLY#"+reply id, sk="REPLY": parentId, to find a reply
//	               by its id with a consistent read (a GSI has none).
//	             - pk="LIKE#"+post id, sk=sub: liked (bool), req: one item per
//	               user who ever liked the post; unlike sets liked=false.
//	             - pk="NOTIF#"+recipient sub, sk=notification id: kind,
//	               postId, actor, createdAt, ttl (NotificationTTL, 90 days).
//	             - pk="NKEY#"+sha256(wall.NotificationKey), sk="NKEY": the
//	               notification that key stands for, written first and
//	               conditionally, so no retry ever makes two; done when all
//	               of its writes are made.
//	             - pk="UNREAD#"+sub, sk="UNREAD": unread (count) and readUpTo
//	               (the read mark: notifications up to it are read).
//	             - pk="RPT#"+post id, sk=reporter's sub: the user's report
//	               of the post (id, postId, reporter, reporterSub, reason,
//	               createdAt), put on condition that there is none, and
//	               listed once its REPORTS item is written.
//	             - pk="REPORTS", sk=report id: every report, a copy of its
//	               RPT item, so a page newest first is one Query. One
//	               partition, as FEED: reports are rare, far below its
//	               write limit.
//	             - pk="REQ#"+requestKey, sk="REQ", ttl: a sendpost's
//	               idempotency record, holding its post, its mentions, and
//	               done once every write that follows from it is made.
//	             - pk="DEL#"+requestKey, sk="DEL", ttl: a deletepost's
//	               idempotency record, holding the post as it was.
//	             - pk="ACT#"+wall.ActionKey, sk="ACT", ttl: a like's or
//	               unlike's idempotency record, holding its answer.
//	             GSI PostsByAuthorIndex ("byAuthor"): partition AttrAuthorKey
//	             ("authorKey"), sort AttrID ("id"), KEYS_ONLY. Sparse: only
//	             live FEED and THREAD items carry authorKey, so it lists
//	             exactly the posts and replies a user's page shows (give or
//	             take its lag, which ListUserPosts corrects on the table).
//	connections  id (S); ttl = expiresAt + 1 hour, in epoch seconds. GSI
//	             ConnectionsBySubIndex ("bySub"): partition key sub (S), all
//	             attributes, for the connections of one user.
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
// a retry repairs. Counts (replyCount, likeCount, unread, postCount) are derived data:
// the usual path adds to them with one ADD, and a retry that cannot tell
// whether its ADD landed (it finds the item that precedes the ADD already
// written by an earlier attempt of the same request) recounts them from the
// items they count (a Query with Select COUNT: the thread's live replies,
// the post's liked=true like items, the recipient's notifications past the
// read mark), then SETs the count on condition that it did not change since
// it was read. That is exact after a crash and a retry; the one window it
// leaves is another request of the same post between its two writes while a
// repair runs, which the next repair puts right. Repairs read whole
// partitions, so they run on retries only, never on a read path; reads never
// Scan.
//
// A reply: REQ record, REPLY locator, THREAD item, ADD 1 to the author's
// postCount, ADD 1 to the parent's replyCount on condition that it is a live
// FEED item (the race-free check that the parent exists), notifications (the
// parent's author, kind reply; then each mention, never the author and never
// twice), done on the REQ record. A top-level post makes the same writes but
// those of the parent. postCount follows the count pattern: the call that
// put the item ADDs; a retry recounts (the author's index entries, each
// checked on the table). Deleting a post tombstones its item (REMOVE
// authorKey, ADD -1 to its author's postCount), then takes each live reply
// out of the author index (REMOVE authorKey, SET orphaned, on condition that
// authorKey is there; the call whose write landed ADDs -1 to that reply's
// author), then the DEL record. Its replies, likes and notifications stay,
// unreachable (reads of a reply check that its parent is live); the orphaned
// replies' MODIFY records announce nothing, so no frame is made per reply. A
// reply that finds its parent gone when it counts itself on it takes itself
// out the same conditional way: it may have landed after the delete read the
// thread. A retried delete recounts its post's author and the authors of
// replies already orphaned. Deleting a reply also takes one off its author's
// and its parent's counts (then the DEL record, whose absence makes a retry
// recount).
//
// An upload: PutUpload on condition that the id is new; FinishUpload and
// ClaimUpload are each one UpdateItem whose condition is the whole rule
// (pending and unexpired; the owner's, ready and unexpired or used by this
// same use), so concurrent claims cannot both win. Expiry is checked on
// every read and in those conditions (createdAt, which sorts as text), never
// left to TTL.
//
// A like: the like item (conditional on the opposite state), ADD ±1 on the
// post item, the author's notification (first like only: the NKEY item makes
// it once ever), the ACT record. A notification: NKEY item, NOTIF item
// (conditional: its INSERT sends it live, once), ADD 1 to unread, NKEY done.
// MarkRead moves the read mark and sets unread to a count of what is past it.
// A report: the RPT item (conditional), the REPORTS item, listed on the RPT
// item; a report that finds an RPT item not yet listed makes the last two
// from it, so a retry after a crash finishes the first report.
//
// No stream record of a like item announces anything: the post item's MODIFY
// carries the new counts, so a like is one counts change. TTL deletion lags by
// days and dynalite has none: nothing relies on it (records past their ttl
// count as absent).
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
		gsi    []types.GlobalSecondaryIndex
	}{
		{names.Posts,
			[]types.KeySchemaElement{{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash}, {AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange}},
			[]types.AttributeDefinition{{AttributeName: aws.String(attrPK), AttributeType: str}, {AttributeName: aws.String(attrSK), AttributeType: str},
				{AttributeName: aws.String(AttrAuthorKey), AttributeType: str}, {AttributeName: aws.String(AttrID), AttributeType: str}},
			true,
			[]types.GlobalSecondaryIndex{{
				IndexName:  aws.String(PostsByAuthorIndex),
				KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String(AttrAuthorKey), KeyType: types.KeyTypeHash}, {AttributeName: aws.String(AttrID), KeyType: types.KeyTypeRange}},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
			}}},
		{names.Connections,
			[]types.KeySchemaElement{{AttributeName: aws.String(attrConnID), KeyType: types.KeyTypeHash}},
			[]types.AttributeDefinition{{AttributeName: aws.String(attrConnID), AttributeType: str}, {AttributeName: aws.String(attrSub), AttributeType: str}},
			false,
			[]types.GlobalSecondaryIndex{{
				IndexName:  aws.String(ConnectionsBySubIndex),
				KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String(attrSub), KeyType: types.KeyTypeHash}},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
			}}},
		{names.Limits,
			[]types.KeySchemaElement{{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash}},
			[]types.AttributeDefinition{{AttributeName: aws.String(attrPK), AttributeType: str}},
			false, nil},
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
		if len(s.gsi) > 0 {
			in.GlobalSecondaryIndexes = s.gsi
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

// decodePage decodes a page read with one item more than limit: the items up
// to limit, and the cursor of the next page (the last one's sort key) when
// that extra item was there, else "". what names an item in errors.
func decodePage[T any](items []map[string]types.AttributeValue, limit int, what string,
	decode func(map[string]types.AttributeValue) (T, error)) ([]T, string, error) {
	next := ""
	if len(items) > limit {
		items = items[:limit]
		next = getString(items[len(items)-1], attrSK)
	}
	out := make([]T, 0, len(items))
	for _, item := range items {
		v, err := decode(item)
		if err != nil {
			return nil, "", fmt.Errorf("%s %s: %w", what, getString(item, attrSK), err)
		}
		out = append(out, v)
	}
	return out, next, nil
}

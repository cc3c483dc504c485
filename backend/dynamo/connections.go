package dynamo

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/postwall/postwall/backend/wall"
)

// DefaultScanSegments is how many segments ListConnections reads in parallel.
const DefaultScanSegments = 4

// connTimeLayout writes connectedAt and expiresAt: fixed width with
// nanoseconds, so that string order is time order and times round-trip exactly.
const connTimeLayout = "2006-01-02T15:04:05.000000000Z"

// expiredKept is how long a connection's item outlives its ExpiresAt before
// DynamoDB's TTL may delete it. TTL deletion can come soon after the ttl, and
// an item deleted before the sweeper (scheduled every minute) listed it
// would leave its socket open, expired, and unknown to every broadcast: the
// silent socket the contract rules out. An hour is many sweeps; by then API
// Gateway has closed any connection anyway (2 hours at most).
const expiredKept = time.Hour

const (
	attrSub         = "sub"
	attrUsername    = "username"
	attrConnectedAt = "connectedAt"
	attrExpiresAt   = "expiresAt"
	attrSourceIP    = "sourceIp"
	attrUserAgent   = "userAgent"
)

// ConnectionStore is wall.ConnectionStore on the connections table: one item per
// connection, keyed by API Gateway's connection id (the only thing $disconnect
// and a 410 from the management API tell us).
//
// Every broadcast reads every connection, so the table is read with a parallel
// Scan: there is no narrower key to query by, and a Scan of small items is the
// cheapest read of all of them. Expired connections are listed too: API
// Gateway does not close a socket when its token expires, so until the fan-out
// or the sweeper closes it (wall.Fanout.CloseExpired) it must hear every
// broadcast, and the sweeper finds it only through this list.
type ConnectionStore struct {
	Client   *dynamodb.Client
	Table    string
	Segments int // parallel Scan segments; 0: DefaultScanSegments
}

var _ wall.ConnectionStore = (*ConnectionStore)(nil)

// NewConnectionStore returns a ConnectionStore on table.
func NewConnectionStore(client *dynamodb.Client, table string) *ConnectionStore {
	return &ConnectionStore{Client: client, Table: table}
}

// PutConnection implements wall.ConnectionStore.
func (s *ConnectionStore) PutConnection(ctx context.Context, c wall.Connection) error {
	item := map[string]types.AttributeValue{
		attrConnID:      str(c.ID),
		attrUsername:    str(c.Username),
		attrConnectedAt: str(c.ConnectedAt.UTC().Format(connTimeLayout)),
		attrExpiresAt:   str(c.ExpiresAt.UTC().Format(connTimeLayout)),
		// TTL counts whole seconds; rounding up never shortens expiredKept.
		attrTTL: num(int64(math.Ceil(float64(c.ExpiresAt.Add(expiredKept).UnixNano()) / 1e9))),
	}
	// Left out when unknown, rather than stored as empty strings (sub is the
	// key of ConnectionsBySubIndex, which refuses empty strings).
	if c.Sub != "" {
		item[attrSub] = str(c.Sub)
	}
	if c.SourceIP != "" {
		item[attrSourceIP] = str(c.SourceIP)
	}
	if c.UserAgent != "" {
		item[attrUserAgent] = str(c.UserAgent)
	}
	_, err := s.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: item})
	if err != nil {
		return fmt.Errorf("store connection %s: %w", c.ID, err)
	}
	return nil
}

// DeleteConnection implements wall.ConnectionStore; DeleteItem of a missing key
// succeeds, which is what the port asks for.
func (s *ConnectionStore) DeleteConnection(ctx context.Context, id string) error {
	_, err := s.Client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.Table),
		Key:       map[string]types.AttributeValue{attrConnID: str(id)},
	})
	if err != nil {
		return fmt.Errorf("delete connection %s: %w", id, err)
	}
	return nil
}

// ListConnections implements wall.ConnectionStore: every item, expired or not.
func (s *ConnectionStore) ListConnections(ctx context.Context) ([]wall.Connection, error) {
	segments := s.Segments
	if segments <= 0 {
		segments = DefaultScanSegments
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		mu       sync.Mutex
		conns    []wall.Connection
		firstErr error
		wg       sync.WaitGroup
	)
	for seg := range segments {
		wg.Go(func() {
			got, err := s.scanSegment(ctx, int32(seg), int32(segments))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
					cancel() // the broadcast cannot use a partial list
				}
				return
			}
			conns = append(conns, got...)
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return conns, nil
}

func (s *ConnectionStore) scanSegment(ctx context.Context, segment, total int32) ([]wall.Connection, error) {
	var (
		conns []wall.Connection
		start map[string]types.AttributeValue
	)
	for {
		out, err := s.Client.Scan(ctx, &dynamodb.ScanInput{
			TableName:     aws.String(s.Table),
			Segment:       aws.Int32(segment),
			TotalSegments: aws.Int32(total),
			// Strongly consistent, so a connection made just before a post is
			// stored hears about it (its own catch-up read may have run already).
			ConsistentRead:    aws.Bool(true),
			ExclusiveStartKey: start,
		})
		if err != nil {
			return nil, fmt.Errorf("scan connections (segment %d of %d): %w", segment, total, err)
		}
		for _, item := range out.Items {
			c, err := decodeConnection(item)
			if err != nil {
				return nil, fmt.Errorf("connection %s: %w", getString(item, attrConnID), err)
			}
			conns = append(conns, c)
		}
		if out.LastEvaluatedKey == nil {
			return conns, nil
		}
		start = out.LastEvaluatedKey
	}
}

func decodeConnection(item map[string]types.AttributeValue) (wall.Connection, error) {
	connected, err := time.Parse(time.RFC3339Nano, getString(item, attrConnectedAt))
	if err != nil {
		return wall.Connection{}, fmt.Errorf("connectedAt: %w", err)
	}
	expires, err := time.Parse(time.RFC3339Nano, getString(item, attrExpiresAt))
	if err != nil {
		return wall.Connection{}, fmt.Errorf("expiresAt: %w", err)
	}
	return wall.Connection{
		ID:          getString(item, attrConnID),
		Sub:         getString(item, attrSub),
		Username:    getString(item, attrUsername),
		ConnectedAt: connected.UTC(),
		ExpiresAt:   expires.UTC(),
		SourceIP:    getString(item, attrSourceIP),
		UserAgent:   getString(item, attrUserAgent),
	}, nil
}

// ConnectionsBySubIndex is the connections table's global secondary index
// with partition key sub (S) and every attribute projected: the connections
// of one user, for notifications, with a Query rather than a Scan.
const ConnectionsBySubIndex = "bySub"

// ListConnectionsOf implements wall.ConnectionStore with a Query on
// ConnectionsBySubIndex. A GSI is eventually consistent (typically well under
// a second behind): a connection opened in that instant can miss a
// notification live, which it still finds in GET /api/notifications.
func (s *ConnectionStore) ListConnectionsOf(ctx context.Context, sub string) ([]wall.Connection, error) {
	var (
		conns []wall.Connection
		start map[string]types.AttributeValue
	)
	for {
		out, err := s.Client.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.Table),
			IndexName:                 aws.String(ConnectionsBySubIndex),
			KeyConditionExpression:    aws.String("#sub = :sub"),
			ExpressionAttributeNames:  map[string]string{"#sub": attrSub},
			ExpressionAttributeValues: map[string]types.AttributeValue{":sub": str(sub)},
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, fmt.Errorf("query connections of %s: %w", sub, err)
		}
		for _, item := range out.Items {
			c, err := decodeConnection(item)
			if err != nil {
				return nil, fmt.Errorf("connection %s: %w", getString(item, attrConnID), err)
			}
			conns = append(conns, c)
		}
		if out.LastEvaluatedKey == nil {
			return conns, nil
		}
		start = out.LastEvaluatedKey
	}
}

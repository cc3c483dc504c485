package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/postwall/postwall/backend/wall"
)

// Keys of the reports' items on the posts table (see the package doc).
const (
	// ReporterPKPrefix + post id holds one item per user (sk = sub) who
	// reported the post: the report itself, put conditionally so that a
	// user's report of a post is made once, whatever the retries.
	ReporterPKPrefix = "RPT#"
	// ReportsPK is the partition of every report, sk = report id (a ULID),
	// so a page of reports, newest first, is one Query.
	ReportsPK = "REPORTS"

	attrReporter    = "reporter"
	attrReporterSub = "reporterSub"
	attrReason      = "reason"
	attrListed      = "listed" // on a RPT item: its report is in REPORTS
)

var _ wall.ReportStore = (*PostStore)(nil)

func reporterKeyOf(postID, sub string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(ReporterPKPrefix + postID), attrSK: str(sub)}
}

// AddReport implements wall.ReportStore. Its writes, in order:
//
//  1. the RPT item, holding the report, on condition that there is none: the
//     one report per user and post.
//  2. the report's item in REPORTS, copied from the RPT item.
//  3. listed on the RPT item.
//
// A report whose RPT item is there already (a second report, or the retry of
// one that crashed after 1) makes writes 2 and 3 from that item unless it is
// listed, so the retry finishes the first report, reason and all, and
// answers created false. The post is checked to be live first; one deleted
// between that read and write 1 keeps its report, which an admin then finds
// of a post that is gone.
func (s *PostStore) AddReport(ctx context.Context, r wall.Report) (bool, error) {
	if _, err := s.GetPost(ctx, r.PostID); err != nil {
		return false, err
	}
	key := reporterKeyOf(r.PostID, r.ReporterSub)
	item := reportAttributes(r)
	maps(item, key)
	_, err := s.Client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.Table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	created := err == nil
	if err != nil && !conditionFailed(err) {
		return false, fmt.Errorf("report post %s: %w", r.PostID, err)
	}
	if !created {
		out, err := s.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return false, fmt.Errorf("read the report of post %s by %s: %w", r.PostID, r.ReporterSub, err)
		}
		if out.Item == nil {
			// Nothing deletes RPT items: a refused put that finds none
			// is a server fault.
			return false, fmt.Errorf("report post %s: the report that blocked it is not there", r.PostID)
		}
		if getBool(out.Item, attrListed) {
			return false, nil
		}
		first, err := decodeReport(out.Item)
		if err != nil {
			return false, fmt.Errorf("report of post %s by %s: %w", r.PostID, r.ReporterSub, err)
		}
		r = first
	}
	listed := reportAttributes(r)
	maps(listed, map[string]types.AttributeValue{attrPK: str(ReportsPK), attrSK: str(r.ID)})
	// Unconditional: a repeat puts the same item again.
	if _, err := s.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: listed}); err != nil {
		return false, fmt.Errorf("list report %s: %w", r.ID, err)
	}
	_, err = s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       key,
		UpdateExpression:          aws.String("SET #listed = :true"),
		ExpressionAttributeNames:  map[string]string{"#listed": attrListed},
		ExpressionAttributeValues: map[string]types.AttributeValue{":true": boolean(true)},
	})
	if err != nil {
		return false, fmt.Errorf("mark report %s listed: %w", r.ID, err)
	}
	return created, nil
}

// ListReports implements wall.ReportStore: one Query of REPORTS, newest
// first, from the cursor on (a key condition, so DynamoDB starts right there).
func (s *PostStore) ListReports(ctx context.Context, q wall.ReportQuery) ([]wall.Report, string, error) {
	cond := "pk = :pk"
	values := map[string]types.AttributeValue{":pk": str(ReportsPK)}
	if q.Before != "" {
		cond += " AND sk < :before"
		values[":before"] = str(q.Before)
	}
	items, err := s.queryPage(ctx, cond, values, q.Limit, false)
	if err != nil {
		return nil, "", fmt.Errorf("query reports: %w", err)
	}
	return decodePage(items, q.Limit, "report", decodeReport)
}

// reportAttributes are a report's attributes, without its key. An empty
// reason is left out: older DynamoDB-compatible servers refuse empty strings.
func reportAttributes(r wall.Report) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		attrID:          str(r.ID),
		attrPostID:      str(r.PostID),
		attrReporter:    str(r.Reporter),
		attrReporterSub: str(r.ReporterSub),
		attrCreatedAt:   str(wall.FormatTime(r.CreatedAt)),
	}
	if r.Reason != "" {
		item[attrReason] = str(r.Reason)
	}
	return item
}

func decodeReport(item map[string]types.AttributeValue) (wall.Report, error) {
	at, err := wall.ParseTime(getString(item, attrCreatedAt))
	if err != nil {
		return wall.Report{}, fmt.Errorf("createdAt: %w", err)
	}
	r := wall.Report{ID: getString(item, attrID), PostID: getString(item, attrPostID), Reporter: getString(item, attrReporter),
		ReporterSub: getString(item, attrReporterSub), Reason: getString(item, attrReason), CreatedAt: at}
	if r.ID == "" {
		return wall.Report{}, fmt.Errorf("no id")
	}
	return r, nil
}

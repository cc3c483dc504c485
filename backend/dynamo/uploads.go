package dynamo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/postwall/postwall/backend/wall"
)

// Keys of the upload records on the posts table (see the package doc).
const (
	// UploadPKPrefix + upload id is an upload's record: one item, so every
	// change of its state is one conditional UpdateItem.
	UploadPKPrefix = "UPLOAD#"
	uploadSK       = "UPLOAD"

	attrOwner       = "owner"
	attrContentType = "contentType"
	attrSize        = "size"
	attrState       = "state"
	attrImage       = "image" // a map, as an avatar
	attrUsedBy      = "usedBy"
)

var _ wall.UploadStore = (*PostStore)(nil)

func uploadKeyOf(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(UploadPKPrefix + id), attrSK: str(uploadSK)}
}

// uploadCutoff is the createdAt (as stored: RFC 3339, milliseconds, UTC,
// which sorts as text) at or before which an unused upload has expired.
func (s *PostStore) uploadCutoff() string {
	return wall.FormatTime(s.now().Add(-wall.UnusedUploadLifetime))
}

// PutUpload implements wall.UploadStore. The record's ttl lets DynamoDB
// delete it once it can no longer be used; reads do not wait for that (TTL
// deletion lags by days, and dynalite has none): they check createdAt.
func (s *PostStore) PutUpload(ctx context.Context, u wall.Upload) error {
	if !wall.ValidID(u.ID) || u.Owner == "" {
		return fmt.Errorf("store upload %q: no valid id or owner", u.ID)
	}
	item := map[string]types.AttributeValue{
		attrID:          str(u.ID),
		attrOwner:       str(u.Owner),
		attrContentType: str(u.ContentType),
		attrSize:        num(u.Size),
		attrCreatedAt:   str(wall.FormatTime(u.CreatedAt)),
		attrState:       str(u.State),
		attrTTL:         num(u.CreatedAt.Add(wall.UnusedUploadLifetime).Add(time.Second).Unix()),
	}
	maps(item, uploadKeyOf(u.ID))
	_, err := s.Client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.Table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if conditionFailed(err) {
		return fmt.Errorf("store upload %s: the id is taken", u.ID)
	}
	if err != nil {
		return fmt.Errorf("store upload %s: %w", u.ID, err)
	}
	return nil
}

// GetUpload implements wall.UploadStore with one consistent read.
func (s *PostStore) GetUpload(ctx context.Context, id string) (wall.Upload, error) {
	item, err := s.itemAt(ctx, uploadKeyOf(id))
	if err != nil {
		return wall.Upload{}, err
	}
	return s.liveUpload(item)
}

// liveUpload decodes an upload record; ENOTFOUND for none, or one that
// expired unused.
func (s *PostStore) liveUpload(item map[string]types.AttributeValue) (wall.Upload, error) {
	if item == nil {
		return wall.Upload{}, errNoUpload()
	}
	u, err := decodeUpload(item)
	if err != nil {
		return wall.Upload{}, err
	}
	if u.State != wall.UploadUsed && wall.FormatTime(u.CreatedAt) <= s.uploadCutoff() {
		return wall.Upload{}, errNoUpload()
	}
	return u, nil
}

func errNoUpload() error { return wall.Errorf(wall.ENOTFOUND, "There is no such upload.") }

func decodeUpload(item map[string]types.AttributeValue) (wall.Upload, error) {
	at, err := wall.ParseTime(getString(item, attrCreatedAt))
	if err != nil {
		return wall.Upload{}, fmt.Errorf("upload createdAt: %w", err)
	}
	size, _ := getInt(item, attrSize)
	u := wall.Upload{
		ID:          strings.TrimPrefix(getString(item, attrPK), UploadPKPrefix),
		Owner:       getString(item, attrOwner),
		ContentType: getString(item, attrContentType),
		Size:        size,
		CreatedAt:   at,
		State:       getString(item, attrState),
		Reason:      getString(item, attrReason),
		UsedBy:      getString(item, attrUsedBy),
	}
	if m, ok := item[attrImage].(*types.AttributeValueMemberM); ok {
		u.Image = decodeImage(m.Value)
	}
	return u, nil
}

// FinishUpload implements wall.UploadStore: one UpdateItem on condition that
// the upload is pending and not expired; any other state is answered as it is.
func (s *PostStore) FinishUpload(ctx context.Context, id string, done wall.Upload) (wall.Upload, error) {
	if done.State != wall.UploadReady && done.State != wall.UploadRejected {
		return wall.Upload{}, fmt.Errorf("finish upload %s: state %q is no outcome of processing", id, done.State)
	}
	names := map[string]string{"#state": attrState, "#createdAt": attrCreatedAt}
	values := map[string]types.AttributeValue{
		":state": str(done.State), ":pending": str(wall.UploadPending), ":cutoff": str(s.uploadCutoff()),
	}
	update := "SET #state = :state"
	if done.State == wall.UploadReady {
		update += ", #image = :image"
		names["#image"] = attrImage
		values[":image"] = imageAttribute(done.Image)
	} else if done.Reason != "" {
		update += ", #reason = :reason"
		names["#reason"] = attrReason
		values[":reason"] = str(done.Reason)
	}
	out, err := s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       uploadKeyOf(id),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("#state = :pending AND #createdAt > :cutoff"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if conditionFailed(err) {
		return s.GetUpload(ctx, id) // finished already, used, expired or absent
	}
	if err != nil {
		return wall.Upload{}, fmt.Errorf("finish upload %s: %w", id, err)
	}
	return decodeUpload(out.Attributes)
}

// ClaimUpload implements wall.UploadStore: one UpdateItem whose condition is
// the whole rule (owner, ready and unexpired, or used by this same use), so of
// two concurrent claims with different uses exactly one wins. A used upload
// loses its ttl: its record now backs a post or an avatar.
func (s *PostStore) ClaimUpload(ctx context.Context, id, owner, use string) (wall.Upload, error) {
	if use == "" {
		return wall.Upload{}, fmt.Errorf("claim upload %s: no use", id)
	}
	out, err := s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.Table),
		Key:              uploadKeyOf(id),
		UpdateExpression: aws.String("SET #state = :used, #usedBy = :use REMOVE #ttl"),
		ConditionExpression: aws.String("#owner = :owner AND " +
			"((#state = :ready AND #createdAt > :cutoff) OR (#state = :used AND #usedBy = :use))"),
		ExpressionAttributeNames: map[string]string{"#state": attrState, "#usedBy": attrUsedBy, "#ttl": attrTTL,
			"#owner": attrOwner, "#createdAt": attrCreatedAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":used": str(wall.UploadUsed), ":use": str(use), ":owner": str(owner),
			":ready": str(wall.UploadReady), ":cutoff": str(s.uploadCutoff()),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if conditionFailed(err) {
		if _, err := s.GetUpload(ctx, id); err != nil {
			return wall.Upload{}, err // ENOTFOUND: absent or expired
		}
		return wall.Upload{}, wall.Errorf(wall.EINVALID, "Upload %s is not yours, not ready, or used already.", id)
	}
	if err != nil {
		return wall.Upload{}, fmt.Errorf("claim upload %s: %w", id, err)
	}
	return decodeUpload(out.Attributes)
}

package dynamo

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/postwall/postwall/backend/wall"
)

// The author index and the profiles on the posts table (see the package doc).
const (
	// PostsByAuthorIndex is the posts table's sparse GSI of live posts and
	// replies by author: partition AttrAuthorKey, sort AttrID, projection
	// KEYS_ONLY (pages are read back from the table, consistently). Only
	// live FEED and THREAD items carry AttrAuthorKey, so nothing else is in
	// it, and a user's page is one Query however large the table.
	PostsByAuthorIndex = "byAuthor"
	// AttrAuthorKey is the index's partition key: the author's sub, set on a
	// post item when it is placed and removed when it is tombstoned or its
	// parent is deleted.
	AttrAuthorKey = "authorKey"
	// AttrID is the index's sort key: the post's id (a ULID, so by time).
	AttrID = "id"
	// ProfilePKPrefix + sub holds the user's profile and PostCount.
	ProfilePKPrefix = "PROFILE#"
	profileSK       = "PROFILE"

	attrDisplayName = "displayName"
	attrBio         = "bio"
	attrAvatar      = "avatar"    // a map: url, key, width, height, type
	attrPostCount   = "postCount" // a number: the items with AttrAuthorKey = sub
	// attrOrphaned, on a reply's THREAD item: its parent's delete took it
	// out of the author index (and off the count).
	attrOrphaned = "orphaned"
)

var _ wall.ProfileStore = (*PostStore)(nil)

func profileKeyOf(sub string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(ProfilePKPrefix + sub), attrSK: str(profileSK)}
}

// Profiles implements wall.ProfileStore with BatchGetItem, 100 keys a call.
func (s *PostStore) Profiles(ctx context.Context, subs []string) (map[string]wall.Profile, error) {
	out := map[string]wall.Profile{}
	seen := map[string]bool{}
	var keys []map[string]types.AttributeValue
	for _, sub := range subs {
		if sub != "" && !seen[sub] { // BatchGetItem refuses a key twice
			seen[sub] = true
			keys = append(keys, profileKeyOf(sub))
		}
	}
	items, err := s.getItemsChunked(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read profiles: %w", err)
	}
	for _, item := range items {
		if item != nil {
			p := decodeProfile(item)
			out[p.Sub] = p
		}
	}
	return out, nil
}

func decodeProfile(item map[string]types.AttributeValue) wall.Profile {
	count, _ := getInt(item, attrPostCount)
	p := wall.Profile{
		Sub:         strings.TrimPrefix(getString(item, attrPK), ProfilePKPrefix),
		Username:    getString(item, attrUsername),
		DisplayName: getString(item, attrDisplayName),
		Bio:         getString(item, attrBio),
		PostCount:   int(max(count, 0)),
	}
	if m, ok := item[attrAvatar].(*types.AttributeValueMemberM); ok {
		p.Avatar = decodeImage(m.Value)
	}
	return p
}

func imageAttribute(im wall.Image) types.AttributeValue {
	m := map[string]types.AttributeValue{
		"url": str(im.URL), "width": num(int64(im.Width)), "height": num(int64(im.Height)),
	}
	// Left out when empty: older DynamoDB-compatible servers refuse empty strings.
	for name, v := range map[string]string{"key": im.Key, "type": im.ContentType, "alt": im.Alt} {
		if v != "" {
			m[name] = str(v)
		}
	}
	return &types.AttributeValueMemberM{Value: m}
}

func decodeImage(m map[string]types.AttributeValue) wall.Image {
	w, _ := getInt(m, "width")
	h, _ := getInt(m, "height")
	return wall.Image{URL: getString(m, "url"), Key: getString(m, "key"), ContentType: getString(m, "type"),
		Alt: getString(m, "alt"), Width: int(w), Height: int(h)}
}

// SaveProfile implements wall.ProfileStore: one UpdateItem, which leaves
// postCount alone and answers the item as it was.
func (s *PostStore) SaveProfile(ctx context.Context, p wall.Profile) (wall.Profile, error) {
	if p.Sub == "" {
		return wall.Profile{}, fmt.Errorf("save profile: no subject")
	}
	names := map[string]string{}
	values := map[string]types.AttributeValue{}
	var set, remove []string
	field := func(attr string, v types.AttributeValue, empty bool) {
		names["#"+attr] = attr
		if empty {
			remove = append(remove, "#"+attr)
			return
		}
		values[":"+attr] = v
		set = append(set, "#"+attr+" = :"+attr)
	}
	field(attrUsername, str(p.Username), p.Username == "")
	field(attrDisplayName, str(p.DisplayName), p.DisplayName == "")
	field(attrBio, str(p.Bio), p.Bio == "")
	field(attrAvatar, imageAttribute(p.Avatar), p.Avatar.URL == "")
	update := ""
	if len(set) > 0 {
		update = "SET " + strings.Join(set, ", ")
	}
	if len(remove) > 0 {
		update += " REMOVE " + strings.Join(remove, ", ")
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.Table),
		Key:                      profileKeyOf(p.Sub),
		UpdateExpression:         aws.String(strings.TrimSpace(update)),
		ExpressionAttributeNames: names,
		ReturnValues:             types.ReturnValueAllOld,
	}
	if len(values) > 0 {
		in.ExpressionAttributeValues = values
	}
	out, err := s.Client.UpdateItem(ctx, in)
	if err != nil {
		return wall.Profile{}, fmt.Errorf("save profile of %s: %w", p.Sub, err)
	}
	if len(out.Attributes) == 0 {
		return wall.Profile{}, nil
	}
	return decodeProfile(out.Attributes), nil
}

// addPostCount adds delta to sub's PostCount; a count that would go below
// zero has drifted and is recounted instead.
func (s *PostStore) addPostCount(ctx context.Context, sub string, delta int64) error {
	in := &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       profileKeyOf(sub),
		UpdateExpression:          aws.String("ADD #n :delta"),
		ExpressionAttributeNames:  map[string]string{"#n": attrPostCount},
		ExpressionAttributeValues: map[string]types.AttributeValue{":delta": num(delta)},
	}
	if delta < 0 {
		in.ConditionExpression = aws.String("#n >= :least")
		in.ExpressionAttributeValues[":least"] = num(-delta)
	}
	_, err := s.Client.UpdateItem(ctx, in)
	if conditionFailed(err) {
		return s.recountPosts(ctx, sub)
	}
	if err != nil {
		return fmt.Errorf("count posts of %s: %w", sub, err)
	}
	return nil
}

// recountPosts sets sub's PostCount to the number of items that carry
// AttrAuthorKey = sub, on condition that the count did not change since it
// was read (see recount). The index lists the candidates; each is checked on
// the table with a consistent read, so an item that left the index a moment
// ago (the index lags its table) is not counted. One placed a moment ago and
// not yet in the index is missed: repairs run on retries, well after the
// write they repair, and that window is the one the package doc describes.
func (s *PostStore) recountPosts(ctx context.Context, sub string) error {
	for range repairRounds {
		item, err := s.itemAt(ctx, profileKeyOf(sub))
		if err != nil {
			return err
		}
		n, err := s.countAuthorItems(ctx, sub)
		if err != nil {
			return fmt.Errorf("recount posts of %s: %w", sub, err)
		}
		values := map[string]types.AttributeValue{":n": num(int64(n))}
		cond := "attribute_not_exists(#n)"
		if old, ok := getInt(item, attrPostCount); ok {
			cond = "#n = :old"
			values[":old"] = num(old)
		}
		_, err = s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(s.Table),
			Key:                       profileKeyOf(sub),
			UpdateExpression:          aws.String("SET #n = :n"),
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  map[string]string{"#n": attrPostCount},
			ExpressionAttributeValues: values,
		})
		if conditionFailed(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("set post count of %s: %w", sub, err)
		}
		return nil
	}
	return fmt.Errorf("recount posts of %s: the count keeps changing", sub)
}

// countAuthorItems counts sub's items in the author index that still carry
// AttrAuthorKey = sub on the table.
func (s *PostStore) countAuthorItems(ctx context.Context, sub string) (int, error) {
	n := 0
	var start map[string]types.AttributeValue
	for {
		out, err := s.Client.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.Table),
			IndexName:                 aws.String(PostsByAuthorIndex),
			KeyConditionExpression:    aws.String("#a = :sub"),
			ExpressionAttributeNames:  map[string]string{"#a": AttrAuthorKey},
			ExpressionAttributeValues: map[string]types.AttributeValue{":sub": str(sub)},
			ExclusiveStartKey:         start,
			Limit:                     aws.Int32(100), // one BatchGetItem each
		})
		if err != nil {
			return 0, err
		}
		items, err := s.baseItems(ctx, out.Items)
		if err != nil {
			return 0, err
		}
		for _, item := range items {
			if getString(item, AttrAuthorKey) == sub {
				n++
			}
		}
		if out.LastEvaluatedKey == nil {
			return n, nil
		}
		start = out.LastEvaluatedKey
	}
}

// baseItems reads the table's items of index entries, in their order (nil
// where the item is gone), with consistent reads, 100 keys a call.
func (s *PostStore) baseItems(ctx context.Context, entries []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	keys := make([]map[string]types.AttributeValue, len(entries))
	for i, e := range entries {
		keys[i] = map[string]types.AttributeValue{attrPK: e[attrPK], attrSK: e[attrSK]}
	}
	return s.getItemsChunked(ctx, keys)
}

// getItemsChunked is getItems for any number of distinct keys.
func (s *PostStore) getItemsChunked(ctx context.Context, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	out := make([]map[string]types.AttributeValue, 0, len(keys))
	for len(keys) > 0 {
		n := min(len(keys), 100)
		items, err := s.getItems(ctx, keys[:n]...)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		keys = keys[n:]
	}
	return out, nil
}

// orphanReply takes the reply at key, by sub, out of the author index
// because its parent is deleted, and off sub's count if it was this call that
// took it out (the condition makes that one call, whoever races).
func (s *PostStore) orphanReply(ctx context.Context, key map[string]types.AttributeValue, sub string) error {
	_, err := s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       key,
		UpdateExpression:          aws.String("SET #orphaned = :true REMOVE #a"),
		ConditionExpression:       aws.String("attribute_exists(#a)"),
		ExpressionAttributeNames:  map[string]string{"#orphaned": attrOrphaned, "#a": AttrAuthorKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":true": boolean(true)},
	})
	if conditionFailed(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("take reply %s out of the author index: %w", getString(key, attrSK), err)
	}
	return s.addPostCount(ctx, sub, -1)
}

// orphanReplies takes every reply of the deleted post parentID out of the
// author index and off its author's count: one Query of the thread, and one
// write and one ADD per live reply. retry says an earlier attempt of the same
// delete may have done part of it: the authors of replies it already took
// out are recounted, as it may have stopped before their ADD.
func (s *PostStore) orphanReplies(ctx context.Context, parentID string, retry bool) error {
	recount := map[string]bool{}
	var start map[string]types.AttributeValue
	for {
		out, err := s.Client.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.Table),
			KeyConditionExpression:    aws.String("pk = :pk"),
			ProjectionExpression:      aws.String("pk, sk, #a, #authorSub, #orphaned"),
			ExpressionAttributeNames:  map[string]string{"#a": AttrAuthorKey, "#authorSub": attrAuthorSub, "#orphaned": attrOrphaned},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(ThreadPKPrefix + parentID)},
			ExclusiveStartKey:         start,
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			return fmt.Errorf("read replies of %s: %w", parentID, err)
		}
		for _, item := range out.Items {
			sub := getString(item, AttrAuthorKey)
			switch {
			case sub != "":
				if err := s.orphanReply(ctx, map[string]types.AttributeValue{attrPK: item[attrPK], attrSK: item[attrSK]}, sub); err != nil {
					return err
				}
			case retry && getBool(item, attrOrphaned) && getString(item, attrAuthorSub) != "":
				recount[getString(item, attrAuthorSub)] = true
			}
		}
		if out.LastEvaluatedKey == nil {
			break
		}
		start = out.LastEvaluatedKey
	}
	for sub := range recount {
		if err := s.recountPosts(ctx, sub); err != nil {
			return err
		}
	}
	return nil
}

// ListUserPosts implements wall.ProfileStore with a Query of the author
// index, newest first, from q.Before on (a key condition), never a Scan. The
// index is eventually consistent, so each page is read back from the table,
// with the parents of its replies, in one consistent BatchGetItem:
// entries whose item has left the index since (deleted, or orphaned by its
// parent's delete) and replies whose parent is not live are dropped, and the
// Query goes on until the page is full.
func (s *PostStore) ListUserPosts(ctx context.Context, sub string, q wall.PostQuery) ([]wall.Post, string, error) {
	if sub == "" {
		return nil, "", nil
	}
	want := q.Limit + 1 // one more says whether there is a next page
	cond := "#a = :sub"
	names := map[string]string{"#a": AttrAuthorKey}
	values := map[string]types.AttributeValue{":sub": str(sub)}
	if q.Before != "" {
		cond += " AND #id < :before"
		names["#id"] = AttrID
		values[":before"] = str(q.Before)
	}
	items := make([]map[string]types.AttributeValue, 0, want)
	var start map[string]types.AttributeValue
	batch := want
	for {
		out, err := s.Client.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.Table),
			IndexName:                 aws.String(PostsByAuthorIndex),
			KeyConditionExpression:    aws.String(cond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
			ScanIndexForward:          aws.Bool(false),
			Limit:                     aws.Int32(int32(min(batch, 100))),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, "", fmt.Errorf("query posts of %s: %w", sub, err)
		}
		live, err := s.liveAuthorItems(ctx, sub, out.Items)
		if err != nil {
			return nil, "", err
		}
		items = append(items, live...)
		if len(items) >= want || out.LastEvaluatedKey == nil {
			break
		}
		start = out.LastEvaluatedKey
		// Past dropped entries, read further ahead, as queryPage does.
		batch = max(want-len(items), 2*len(out.Items))
	}
	return decodePage(items, q.Limit, "post", decodePost)
}

// liveAuthorItems reads the table's items of index entries and keeps, in
// order, the live ones still by sub whose parent (for a reply) is live. A
// reply's entry carries its table pk, THREAD#<parent id>, so its parent's key
// is known before any read and one BatchGetItem fetches items and parents.
func (s *PostStore) liveAuthorItems(ctx context.Context, sub string, entries []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	keys := make([]map[string]types.AttributeValue, 0, len(entries))
	seen := map[string]bool{} // feed ids among keys: BatchGetItem refuses a key twice
	for _, e := range entries {
		keys = append(keys, map[string]types.AttributeValue{attrPK: e[attrPK], attrSK: e[attrSK]})
		if getString(e, attrPK) == FeedPK {
			seen[getString(e, attrSK)] = true
		}
	}
	for _, e := range entries {
		if parent, ok := strings.CutPrefix(getString(e, attrPK), ThreadPKPrefix); ok && !seen[parent] {
			seen[parent] = true
			keys = append(keys, feedKeyOf(parent))
		}
	}
	got, err := s.getItemsChunked(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read posts of %s: %w", sub, err)
	}
	parentLive := map[string]bool{}
	for i, k := range keys {
		if getString(k, attrPK) == FeedPK {
			parentLive[getString(k, attrSK)] = stateOf(got[i]) == feedLive
		}
	}
	var out []map[string]types.AttributeValue
	for _, item := range got[:len(entries)] {
		if stateOf(item) != feedLive || getString(item, AttrAuthorKey) != sub {
			continue
		}
		if parent := getString(item, attrParentID); parent != "" && !parentLive[parent] {
			continue
		}
		out = append(out, item)
	}
	return out, nil
}

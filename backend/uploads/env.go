package uploads

import (
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/postwall/postwall/backend/objects"
	"github.com/postwall/postwall/backend/wall"
)

// The Lambdas' environment for the pipeline; the CDK stack sets these names.
const (
	EnvUploadBucket = "POSTWALL_UPLOAD_BUCKET"
	EnvMediaBucket  = "POSTWALL_MEDIA_BUCKET"
	EnvMediaURL     = "POSTWALL_MEDIA_URL" // https://<the CDN's domain>
)

// FromEnv builds the pipeline of a Lambda from its environment; ok is false
// when none of it is set (a stack without media), an error when only part is.
func FromEnv(cfg aws.Config, store wall.UploadStore) (p *Pipeline, ok bool, err error) {
	up, md, url := os.Getenv(EnvUploadBucket), os.Getenv(EnvMediaBucket), os.Getenv(EnvMediaURL)
	if up == "" && md == "" && url == "" {
		return nil, false, nil
	}
	if up == "" || md == "" || !strings.HasPrefix(url, "https://") {
		return nil, false, fmt.Errorf("%s, %s and %s (an https URL) must all be set", EnvUploadBucket, EnvMediaBucket, EnvMediaURL)
	}
	client := s3.NewFromConfig(cfg)
	return &Pipeline{
		Uploads:  objects.Bucket{Client: client, Name: up},
		Media:    objects.Bucket{Client: client, Name: md},
		MediaURL: strings.TrimSuffix(url, "/"),
		Store:    store,
	}, true, nil
}

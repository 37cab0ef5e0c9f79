package objstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// S3Config says where an S3 store lives and how to reach it.
type S3Config struct {
	// Bucket holds the objects. It must exist.
	Bucket string

	// Prefix, if set, is prepended (with a "/") to every key, so several
	// stores can share a bucket. It follows the key rules.
	Prefix string

	// Endpoint is the URL of an S3-compatible server, such as
	// http://127.0.0.1:7070. Empty means AWS S3.
	Endpoint string

	// Region is the signing region. Empty means the region of the standard
	// AWS configuration (AWS_REGION, ~/.aws/config), else us-east-1.
	Region string

	// UsePathStyle addresses buckets as endpoint/bucket rather than
	// bucket.endpoint, as most self-hosted servers need.
	UsePathStyle bool

	// AccessKeyID and SecretAccessKey are static credentials. Leave both
	// empty to use the standard AWS credential chain (environment, shared
	// files, web identity, instance or container roles).
	AccessKeyID     string
	SecretAccessKey string
}

// S3 is a Store in an S3 bucket, on AWS or an S3-compatible server. Create
// is a conditional PUT (If-None-Match: *), which the server evaluates
// atomically. Requests that fail on the network or with a server error are
// tried at most three times in all, so an unreachable server fails within
// about a second rather than hanging. A server that accepts connections but
// never answers is bounded by the caller's context and a one-minute wait for
// each response's headers.
type S3 struct {
	client   *s3.Client
	creds    aws.CredentialsProvider
	bucket   string
	prefix   string // "" or ending in "/"
	endpoint string // for messages
}

var _ Store = (*S3)(nil)

const (
	s3MaxAttempts = 3
	s3BaseBackoff = 100 * time.Millisecond
	s3MaxBackoff  = time.Second

	// createTokenMeta is the user metadata that lets Create recognise its
	// own object when a retried conditional PUT finds the key taken: the
	// first attempt may have succeeded with its response lost.
	createTokenMeta = "objstore-create-token"
)

// NewS3 returns a Store for cfg. It does not contact the server; the first
// request reports a missing bucket or refused credentials.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("s3 object store: %w", err)
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}

	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(newS3HTTPClient()),
		config.WithRetryer(newS3Retryer),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3 object store: load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}

	endpoint := cfg.Endpoint
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = cfg.UsePathStyle
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		// Objects are small and written whole; a GET without a stored
		// checksum is normal, not worth a warning on every read.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	if endpoint == "" {
		endpoint = "AWS S3 (" + awsCfg.Region + ")"
	}
	return &S3{
		client:   client,
		creds:    awsCfg.Credentials,
		bucket:   cfg.Bucket,
		prefix:   prefix,
		endpoint: endpoint,
	}, nil
}

func (c S3Config) validate() error {
	if c.Bucket == "" {
		return errors.New("bucket is empty")
	}
	if strings.ContainsAny(c.Bucket, "/: ") {
		return fmt.Errorf("bucket %q: a bucket name has no slashes, colons or spaces", c.Bucket)
	}
	if p := strings.Trim(c.Prefix, "/"); p != "" {
		if err := ValidateKey(p); err != nil {
			return fmt.Errorf("prefix: %w", err)
		}
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("endpoint %q: want http://host:port or https://host:port", c.Endpoint)
		}
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return errors.New("set both the access key ID and the secret access key, or neither to use the standard AWS credential chain")
	}
	return nil
}

func newS3HTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) {
			d.Timeout = 5 * time.Second
		}).
		WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConnsPerHost = 64
			t.ResponseHeaderTimeout = time.Minute
		})
}

// newS3Retryer tries a request at most three times with short, jittered
// backoff. Retries are not rate limited: with so few attempts the token
// bucket would only turn an outage into a confusing "quota exceeded".
func newS3Retryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = s3MaxAttempts
		o.RateLimiter = ratelimit.None
		o.Backoff = retry.BackoffDelayerFunc(func(attempt int, _ error) (time.Duration, error) {
			d := min(s3BaseBackoff<<(attempt-1), s3MaxBackoff)
			return d/2 + mathrand.N(d/2+1), nil
		})
		// AWS answers 409 to a conditional write racing another one to
		// the same key and asks the client to retry.
		o.Retryables = append(o.Retryables, retry.RetryableErrorCode{
			Codes: map[string]struct{}{"ConditionalRequestConflict": {}},
		})
	})
}

// String names the store in messages.
func (s *S3) String() string {
	return "s3://" + s.bucket + "/" + s.prefix
}

// Put stores data under key, replacing any existing object.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.prefix + key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		return s.fail(ctx, "put", key, err)
	}
	return nil
}

// Create stores data under key only if key holds no object yet; otherwise it
// returns an error matching ErrExist. The object carries a random token in
// its user metadata (x-amz-meta-objstore-create-token) so that a retry of a
// create whose response was lost recognises its own object instead of
// reporting ErrExist.
func (s *S3) Create(ctx context.Context, key string, data []byte) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	token := newCreateToken()
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.prefix + key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		IfNoneMatch:   aws.String("*"),
		Metadata:      map[string]string{createTokenMeta: token},
	})
	if err == nil {
		return nil
	}
	code := apiErrorCode(err)
	if code != "PreconditionFailed" && code != "ConditionalRequestConflict" {
		return s.fail(ctx, "create", key, err)
	}

	// The key is taken, or another create of it is in flight. The holder
	// may be this call, if a retried attempt follows one whose success
	// was lost on the way back.
	head, headErr := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	switch {
	case headErr == nil && head.Metadata[createTokenMeta] == token:
		return nil
	case headErr == nil, code == "PreconditionFailed" && errors.Is(s.classify(ctx, headErr), ErrNotExist):
		// It existed when the server evaluated the condition, even if it
		// has been deleted since.
		return fmt.Errorf("create %s: %w", s.describe(key), ErrExist)
	case code == "ConditionalRequestConflict":
		return fmt.Errorf("create %s: another create of the key was in flight and its outcome is unknown; retry: %w", s.describe(key), err)
	default:
		return s.fail(ctx, "create (check the existing object)", key, headErr)
	}
}

func newCreateToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Get returns the object stored under key, or an error matching
// fs.ErrNotExist.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ValidateKey(key); err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		return nil, s.fail(ctx, "get", key, err)
	}
	defer out.Body.Close()
	var buf bytes.Buffer
	if n := aws.ToInt64(out.ContentLength); n > 0 {
		buf.Grow(int(n))
	}
	if _, err := io.Copy(&buf, out.Body); err != nil {
		return nil, s.fail(ctx, "get (read body)", key, err)
	}
	return buf.Bytes(), nil
}

// Delete removes the object under key; a missing key is not an error.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		err = s.fail(ctx, "delete", key, err)
		if errors.Is(err, ErrNotExist) {
			return nil
		}
		return err
	}
	return nil
}

// List returns the sorted keys that start with prefix, reading every page
// of the bucket listing.
func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	if err := validatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix + prefix),
	})
	keys := []string{}
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, s.fail(ctx, "list", prefix, err)
		}
		for _, obj := range page.Contents {
			key := strings.TrimPrefix(aws.ToString(obj.Key), s.prefix)
			// Directory markers ("a/") made by other tools are not objects.
			if key == "" || strings.HasSuffix(key, "/") {
				continue
			}
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

func (s *S3) describe(key string) string {
	return "s3://" + s.bucket + "/" + s.prefix + key
}

// fail wraps an SDK error from op on key with the object's address and a
// plain statement of what went wrong.
func (s *S3) fail(ctx context.Context, op, key string, err error) error {
	return fmt.Errorf("%s %s: %w", op, s.describe(key), s.classify(ctx, err))
}

// classify maps SDK errors onto the package's errors where one applies and
// explains the common failures; others pass unchanged.
func (s *S3) classify(ctx context.Context, err error) error {
	if isCtxErr(err) {
		return err
	}
	code := apiErrorCode(err)
	switch code {
	case "NoSuchKey", "NotFound":
		return ErrNotExist
	case "NoSuchBucket":
		return fmt.Errorf("bucket %q does not exist at %s: %w", s.bucket, s.endpoint, err)
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "AccessDenied",
		"XAdminUserNotFound": // versitygw's answer to an unknown access key
		return fmt.Errorf("%w: %s refused the credentials of access key ID %q (%s: %s); check the access key ID and secret access key",
			ErrAccessDenied, s.endpoint, s.accessKeyID(ctx), code, apiErrorMessage(err))
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		switch status := respErr.HTTPStatusCode(); {
		case status == http.StatusNotFound && code == "":
			// A HEAD response has no body to carry a code. Any other 404
			// (an unknown access key on some servers) is not a missing
			// object: treating it as one would make data look absent.
			return ErrNotExist
		case status == http.StatusForbidden:
			return fmt.Errorf("%w: %s refused the request with access key ID %q (HTTP 403); check the credentials and the bucket's permissions",
				ErrAccessDenied, s.endpoint, s.accessKeyID(ctx))
		}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return fmt.Errorf("object store %s is unreachable: %w", s.endpoint, err)
	}
	return err
}

// accessKeyID names the credentials in an error; the secret never appears.
func (s *S3) accessKeyID(ctx context.Context) string {
	if s.creds == nil {
		return "(none)"
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	c, err := s.creds.Retrieve(ctx)
	if err != nil {
		return "(unknown)"
	}
	return c.AccessKeyID
}

func apiErrorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func apiErrorMessage(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorMessage()
	}
	return ""
}

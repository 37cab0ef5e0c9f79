package testenv

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3 is a running versitygw S3 server with the posix backend: real SigV4
// authentication, real conditional writes, objects as files under Dir.
type S3 struct {
	// Endpoint is the server's URL, http://127.0.0.1:<port>.
	Endpoint string
	// Region is the signing region the server expects.
	Region string
	// AccessKeyID and SecretAccessKey are the root credentials, random for
	// each server.
	AccessKeyID     string
	SecretAccessKey string
	// Dir is the directory holding the buckets.
	Dir string

	owner testing.TB
	port  int
	proc  *Process
}

// s3StartTimeout bounds the wait for versitygw to answer; it starts in well
// under a second.
const s3StartTimeout = 30 * time.Second

// StartS3 starts versitygw on a free loopback port and a fresh directory and
// waits until it answers authenticated requests. It is stopped when t ends.
func StartS3(t testing.TB) *S3 {
	t.Helper()
	s := &S3{
		Region:          "us-east-1",
		AccessKeyID:     "AK" + strings.ToUpper(rand.Text()[:18]),
		SecretAccessKey: rand.Text() + rand.Text()[:14],
		Dir:             t.TempDir(),
		owner:           t,
	}
	// FreePort can lose a race with another process; try a few ports.
	var err error
	for range 3 {
		s.port = FreePort(t)
		if err = s.start(t); err == nil {
			return s
		}
	}
	t.Fatalf("start versitygw: %v", err)
	return nil
}

// start runs versitygw on s.port and waits for it. It returns an error if
// the process exits early (for example when the port was taken).
func (s *S3) start(t testing.TB) error {
	t.Helper()
	s.Endpoint = "http://" + Addr(s.port)
	// The process belongs to the test that started the server, so a
	// Restart from a subtest does not end it with the subtest.
	s.proc = StartProcess(s.owner, "versitygw", Binary(t, "versitygw"),
		[]string{"--port", Addr(s.port), "--region", s.Region, "posix", s.Dir},
		[]string{"ROOT_ACCESS_KEY=" + s.AccessKeyID, "ROOT_SECRET_KEY=" + s.SecretAccessKey})

	client := s.newClient()
	ctx, cancel := context.WithTimeout(context.Background(), s3StartTimeout)
	defer cancel()
	var last error
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 5*time.Second)
		_, last = client.ListBuckets(attempt, &s3.ListBucketsInput{})
		cancelAttempt()
		if last == nil {
			return nil
		}
		if exited, err := s.proc.Exited(); exited {
			return fmt.Errorf("versitygw on %s exited (%v): %s", s.Endpoint, err, s.proc.Tail(4<<10))
		}
		select {
		case <-ctx.Done():
			s.proc.Stop()
			return fmt.Errorf("versitygw on %s not ready after %s: %w", s.Endpoint, s3StartTimeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Client returns an S3 client for the server with the root credentials and
// path-style addressing.
func (s *S3) Client(t testing.TB) *s3.Client {
	t.Helper()
	return s.newClient()
}

func (s *S3) newClient() *s3.Client {
	return s.ClientWithCredentials(s.AccessKeyID, s.SecretAccessKey)
}

// ClientWithCredentials returns a client for the server that signs with the
// given credentials, for tests of refused credentials.
func (s *S3) ClientWithCredentials(accessKeyID, secretAccessKey string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint),
		Region:       s.Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 3
			o.MaxBackoff = time.Second
		}),
		DisableLogOutputChecksumValidationSkipped: true,
	})
}

// CreateBucket creates a bucket, failing the test if that fails.
func (s *S3) CreateBucket(t testing.TB, name string) {
	t.Helper()
	_, err := s.newClient().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)})
	if err != nil {
		t.Fatalf("create bucket %s on %s: %v", name, s.Endpoint, err)
	}
}

// Stop stops the server; its data stays in Dir. Requests fail with
// "connection refused" until Restart.
func (s *S3) Stop() {
	s.proc.Stop()
}

// Restart stops the server if it runs and starts it again on the same port
// and data, as an object store that was unavailable and came back.
func (s *S3) Restart(t testing.TB) {
	t.Helper()
	s.proc.Stop()
	// The port was just released; another process rarely grabs it, but a
	// lingering socket may delay the bind, so retry briefly.
	var err error
	for range 3 {
		if err = s.start(t); err == nil {
			return
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("restart versitygw on port %d: %v", s.port, err)
}

package testenv

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

func TestS3PutGet(t *testing.T) {
	srv := StartS3(t)
	srv.CreateBucket(t, "smoke")
	client := srv.Client(t)
	ctx := t.Context()

	want := []byte("hello from a SigV4-signed request")
	_, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("smoke"),
		Key:    aws.String("dir/object"),
		Body:   bytes.NewReader(want),
	})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("smoke"), Key: aws.String("dir/object")})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("GetObject = %q, %v; want %q", got, err, want)
	}

	// Data outlives a restart on the same port and directory.
	srv.Restart(t)
	out, err = client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("smoke"), Key: aws.String("dir/object")})
	if err != nil {
		t.Fatalf("GetObject after restart: %v", err)
	}
	got, _ = io.ReadAll(out.Body)
	out.Body.Close()
	if !bytes.Equal(got, want) {
		t.Fatalf("GetObject after restart = %q, want %q", got, want)
	}
}

func TestS3WrongSecretRefused(t *testing.T) {
	srv := StartS3(t)
	srv.CreateBucket(t, "smoke")
	client := srv.ClientWithCredentials(srv.AccessKeyID, "wrong-"+srv.SecretAccessKey)

	_, err := client.PutObject(t.Context(), &s3.PutObjectInput{
		Bucket: aws.String("smoke"),
		Key:    aws.String("object"),
		Body:   strings.NewReader("x"),
	})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "SignatureDoesNotMatch" {
		t.Fatalf("PutObject with a wrong secret: error %v, want SignatureDoesNotMatch", err)
	}

	// AWS answers an unknown access key with 403 InvalidAccessKeyId;
	// versitygw v1.8.0 with 404 XAdminUserNotFound.
	client = srv.ClientWithCredentials("AKUNKNOWN", srv.SecretAccessKey)
	_, err = client.ListBuckets(t.Context(), &s3.ListBucketsInput{})
	if !errors.As(err, &apiErr) || (apiErr.ErrorCode() != "InvalidAccessKeyId" && apiErr.ErrorCode() != "XAdminUserNotFound") {
		t.Fatalf("ListBuckets with an unknown access key: error %v, want InvalidAccessKeyId or XAdminUserNotFound", err)
	}
}

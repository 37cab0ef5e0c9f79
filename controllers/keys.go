package controllers

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/byoda-go/byoda/internal/pki"
)

// secrets reads and creates the Secrets the operator makes once: keys,
// key-encryption keys and passwords. They are never updated (they are
// immutable) and never regenerated.
type secrets struct {
	client client.Client
	// reader reads from the API server, for the moments when the cache may
	// not have caught up with a create yet, and for Secrets the operator
	// does not own (and so does not cache).
	reader client.Reader
}

// cached returns the Secret key from the cache, or nil when the cache has
// none. The cache may lag behind a create: a miss is a reason to create
// (which fails harmlessly if the Secret exists) or to confirm with
// confirmed, never to conclude that a key is gone.
func (s secrets) cached(ctx context.Context, key types.NamespacedName) (*corev1.Secret, error) {
	var sec corev1.Secret
	err := s.client.Get(ctx, key, &sec)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get secret %s: %w", key, err)
	}
	return &sec, nil
}

// confirmed returns the Secret key, or nil when it does not exist: a miss
// in the cache is confirmed with the API server before anyone decides that
// a key is gone.
func (s secrets) confirmed(ctx context.Context, key types.NamespacedName) (*corev1.Secret, error) {
	if sec, err := s.cached(ctx, key); sec != nil || err != nil {
		return sec, err
	}
	var sec corev1.Secret
	err := s.reader.Get(ctx, key, &sec)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get secret %s: %w", key, err)
	}
	return &sec, nil
}

// create creates want unless a Secret of its name exists, and returns the
// Secret that exists afterwards: want, or the one another pass created
// first (whose content wins).
func (s secrets) create(ctx context.Context, want *corev1.Secret) (*corev1.Secret, bool, error) {
	err := s.client.Create(ctx, want)
	if err == nil {
		return want, true, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, false, fmt.Errorf("create secret %s/%s: %w", want.Namespace, want.Name, err)
	}
	var got corev1.Secret
	if err := s.reader.Get(ctx, client.ObjectKeyFromObject(want), &got); err != nil {
		return nil, false, fmt.Errorf("get secret %s/%s: %w", want.Namespace, want.Name, err)
	}
	return &got, false, nil
}

// newKeyPEMs returns two new P-256 keys in PKCS #8 PEM: one for TLS, one for
// signing data.
func newKeyPEMs() (tlsKey, dataKey []byte, err error) {
	var out [2][]byte
	for i := range out {
		k, err := pki.GenerateKey()
		if err != nil {
			return nil, nil, err
		}
		if out[i], err = pki.EncodeKey(k); err != nil {
			return nil, nil, err
		}
	}
	return out[0], out[1], nil
}

// parseKeys parses the two keys stored under tlsName and dataName in s.
func parseKeys(s *corev1.Secret, tlsName, dataName string) (tlsKey, dataKey crypto.Signer, err error) {
	if tlsKey, err = pki.ParseKey(s.Data[tlsName]); err != nil {
		return nil, nil, fmt.Errorf("secret %s/%s: %s: %w", s.Namespace, s.Name, tlsName, err)
	}
	if dataKey, err = pki.ParseKey(s.Data[dataName]); err != nil {
		return nil, nil, fmt.Errorf("secret %s/%s: %s: %w", s.Namespace, s.Name, dataName, err)
	}
	return tlsKey, dataKey, nil
}

// randomToken returns n random bytes in URL-safe base64 with padding, the
// encoding of Fernet keys.
func randomToken(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("random: %w", err)
	}
	return []byte(base64.URLEncoding.EncodeToString(b)), nil
}

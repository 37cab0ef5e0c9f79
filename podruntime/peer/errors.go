package peer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/pki"
)

// Kind says why a call to a peer failed.
type Kind string

// The kinds of Error.
const (
	KindNotFound    Kind = "not_found"   // the member's name is not in DNS
	KindUnreachable Kind = "unreachable" // no connection: refused, no route, reset
	KindUntrusted   Kind = "untrusted"   // the server is not the member asked for
	KindTimeout     Kind = "timeout"     // the deadline passed
	KindCanceled    Kind = "canceled"    // the caller gave up
	KindRefused     Kind = "refused"     // the pod answered with an error
	KindInvalid     Kind = "invalid"     // the answer is not what was asked for
	KindTooLarge    Kind = "too_large"   // the answer is over the size limit
)

// Error is a failed call to member Member's pod.
type Error struct {
	Kind   Kind
	Member uuid.UUID
	Err    error
}

func (e *Error) Error() string {
	return "member " + e.Member.String() + ": " + string(e.Kind) + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// classify turns a transport error into an Error.
func classify(ctx context.Context, mid uuid.UUID, err error) error {
	kind := KindUnreachable
	var (
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		uaErr   x509.UnknownAuthorityError
		hostErr x509.HostnameError
	)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		kind = KindTimeout
	case errors.Is(ctx.Err(), context.Canceled):
		kind = KindCanceled
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		kind = KindNotFound
	case errors.As(err, &dnsErr) && dnsErr.IsTimeout:
		kind = KindTimeout
	case errors.Is(err, pki.ErrUntrusted), errors.As(err, &certErr), errors.As(err, &uaErr), errors.As(err, &hostErr):
		kind = KindUntrusted
	}
	return &Error{Kind: kind, Member: mid, Err: err}
}

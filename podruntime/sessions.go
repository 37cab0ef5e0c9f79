package podruntime

import (
	"crypto/ecdsa"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// SessionsFileName is the file in the data directory that holds the
// generation of the owner's sessions.
const SessionsFileName = "owner-sessions.json"

// Why every owner token was revoked, as metrics and logs name it.
const (
	revokedPasswordChanged  = "password_changed"
	revokedLogoutEverywhere = "logout_everywhere"
	revokedNewDataDir       = "new_data_dir"
	revokedUnreadable       = "unreadable_state"
)

// sessionsState is the content of SessionsFileName.
type sessionsState struct {
	// Generation is in every owner token; a token of another generation
	// is revoked. It is random, so that a data directory that is lost or
	// rolled back never brings an old generation back.
	Generation string `json:"generation"`
	// PasswordFingerprint is a keyed hash of the owner's password (see
	// passwordFingerprint): when the password changes, so does the
	// generation.
	PasswordFingerprint string `json:"password_fingerprint"`
	// Since and Reason say when and why the generation last changed.
	Since  time.Time `json:"since"`
	Reason string    `json:"reason"`
}

// sessions is the current generation of the owner's sessions, kept in
// SessionsFileName so that revocations survive restarts. A new
// generation revokes every token issued before it, and ends the
// websockets opened with them.
type sessions struct {
	file        string
	fingerprint string
	now         func() time.Time

	mu      sync.Mutex
	gen     string
	revoked chan struct{} // closed when gen changes
}

// openSessions loads the generation from file, or starts a new one when
// there is none, when the password's fingerprint differs from the one
// seen last, or when the file cannot be parsed (starting over only
// revokes tokens, which is the safe direction). It returns why it started
// a new generation, or "" when it did not.
func openSessions(file, fingerprint string, now func() time.Time) (*sessions, string, error) {
	s := &sessions{file: file, fingerprint: fingerprint, now: now, revoked: make(chan struct{})}
	data, err := os.ReadFile(file)
	var st sessionsState
	reason := ""
	switch {
	case errors.Is(err, fs.ErrNotExist):
		reason = revokedNewDataDir
	case err != nil:
		return nil, "", fmt.Errorf("owner sessions: %w", err)
	case json.Unmarshal(data, &st) != nil || st.Generation == "":
		reason = revokedUnreadable
	case !hmac.Equal([]byte(st.PasswordFingerprint), []byte(fingerprint)):
		reason = revokedPasswordChanged
	}
	if reason == "" {
		s.gen = st.Generation
		return s, "", nil
	}
	if err := s.renew(reason); err != nil {
		return nil, "", err
	}
	return s, reason, nil
}

// current returns the generation and a channel closed when it changes.
func (s *sessions) current() (string, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen, s.revoked
}

// renew starts a new generation, revoking every token: it is written to
// the file first, so that a revocation that cannot be kept is refused
// rather than forgotten on restart.
func (s *sessions) renew(reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := sessionsState{Generation: rand.Text(), PasswordFingerprint: s.fingerprint, Since: s.now().UTC(), Reason: reason}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.file, append(data, '\n')); err != nil {
		return fmt.Errorf("owner sessions: %w", err)
	}
	s.gen = st.Generation
	if s.revoked != nil {
		close(s.revoked)
	}
	s.revoked = make(chan struct{})
	return nil
}

// writeFileAtomic replaces file with data, mode 0600: a crash leaves the
// old content or the new, never a mix.
func writeFileAtomic(file string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(file)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// passwordFingerprint is an HMAC-SHA256 of the owner's password under a
// key derived from the account's private key: it tells a changed password
// from the same one across restarts, and someone who reads only the data
// directory cannot test guesses of the password against it.
func passwordFingerprint(key *ecdsa.PrivateKey, password string) (string, error) {
	secret, err := key.Bytes()
	if err != nil {
		return "", fmt.Errorf("account key: %w", err)
	}
	k, err := hkdf.Key(sha256.New, secret, nil, "byoda owner password fingerprint", sha256.Size)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, k)
	mac.Write([]byte(password))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), nil
}

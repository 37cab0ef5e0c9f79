package podruntime

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/podruntime/graphql"
)

// ownerAuth logs the owner in and checks the tokens it issued.
type ownerAuth struct {
	accountID uuid.UUID
	issuer    string // the account's name, <aid>.accounts.<net>
	key       *ecdsa.PrivateKey
	// passwordHash is the SHA-256 of the owner's password: the password
	// itself is not kept.
	passwordHash [sha256.Size]byte
	ttl          time.Duration
	now          func() time.Time
	limiter      *loginLimiter
	parser       *jwt.Parser
	// sessions is the generation every valid token carries.
	sessions *sessions
}

// newOwnerAuth prepares the owner's login. It opens the sessions'
// generation in the data directory and says why it started a new one
// ("" when it did not).
func newOwnerAuth(cfg Config, issuer string, key *ecdsa.PrivateKey, password string) (*ownerAuth, string, error) {
	fp, err := passwordFingerprint(key, password)
	if err != nil {
		return nil, "", err
	}
	s, reason, err := openSessions(filepath.Join(cfg.DataDir, SessionsFileName), fp, cfg.Now)
	if err != nil {
		return nil, "", err
	}
	return &ownerAuth{
		accountID:    cfg.AccountID,
		issuer:       issuer,
		key:          key,
		passwordHash: sha256.Sum256([]byte(password)),
		ttl:          cfg.TokenTTL,
		now:          cfg.Now,
		limiter:      newLoginLimiter(cfg.LoginBurst, cfg.LoginRefill, cfg.Now),
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
			jwt.WithIssuer(issuer),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithTimeFunc(cfg.Now),
			jwt.WithLeeway(tokenLeeway),
		),
		sessions: s,
	}, reason, nil
}

// tokenLeeway is the clock skew tolerated on a token's times.
const tokenLeeway = 30 * time.Second

// ownerClaims are the claims of an owner token.
type ownerClaims struct {
	jwt.RegisteredClaims
	// ServiceID is the service whose API the token opens.
	ServiceID uint32 `json:"service_id"`
	// Generation is the generation of the owner's sessions the token
	// was issued in; a token of an older one is revoked.
	Generation string `json:"gen"`
}

// session is a verified owner token.
type session struct {
	id         string // jti
	generation string
	expires    time.Time
}

// sessionKey marks the context of a request on the owner port made with
// a valid token; its value is the *session.
type sessionKey struct{}

// checkPassword compares a login's credentials with the owner's in
// constant time (the username, the account id, is not secret).
func (a *ownerAuth) checkPassword(username, password string) bool {
	h := sha256.Sum256([]byte(password))
	pwOK := subtle.ConstantTimeCompare(h[:], a.passwordHash[:]) == 1
	id, err := uuid.Parse(username)
	return pwOK && err == nil && id == a.accountID
}

// issue makes a token for the owner as the member of m.
func (a *ownerAuth) issue(m *membership) (string, time.Time, error) {
	// JWT times are whole seconds.
	now := a.now().Truncate(time.Second)
	exp := now.Add(a.ttl)
	gen, _ := a.sessions.current()
	claims := ownerClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    a.issuer,
			Subject:   m.memberID.String(),
			Audience:  jwt.ClaimStrings{m.memberName},
			ExpiresAt: jwt.NewNumericDate(exp),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        rand.Text(),
		},
		ServiceID:  m.sid,
		Generation: gen,
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(a.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return tok, exp, nil
}

// verify checks a token for the API of m, and says why one is refused.
func (a *ownerAuth) verify(token string, m *membership) (*session, *apiError) {
	s, claims, aerr := a.parse(token)
	if aerr != nil {
		return nil, aerr
	}
	if claims.ServiceID != m.sid || claims.Subject != m.memberID.String() || !slices.Contains(claims.Audience, m.memberName) {
		return nil, unauthenticated("the token is for service %d, not for service %d: log in for service %d at POST /api/v1/pod/authtoken",
			claims.ServiceID, m.sid, m.sid)
	}
	return s, nil
}

// parse checks a token's signature, times and generation.
func (a *ownerAuth) parse(token string) (*session, *ownerClaims, *apiError) {
	var claims ownerClaims
	_, err := a.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return &a.key.PublicKey, nil })
	if err != nil {
		return nil, nil, unauthenticated("%s", tokenProblem(err))
	}
	if gen, _ := a.sessions.current(); claims.Generation != gen {
		return nil, nil, errRevoked()
	}
	return &session{id: claims.ID, generation: claims.Generation, expires: claims.ExpiresAt.Time}, &claims, nil
}

// errRevoked is the answer to a token of an older generation.
func errRevoked() *apiError {
	return unauthenticated("token revoked: log in again at POST /api/v1/pod/authtoken " +
		"(the owner's password changed, or the owner logged out everywhere)")
}

// bind returns the context of a websocket opened with session s: it ends
// when the token expires or is revoked, and with it the socket and its
// subscriptions (gqlgen closes a socket whose init context is done).
func (a *ownerAuth) bind(ctx context.Context, s *session) (context.Context, error) {
	gen, revoked := a.sessions.current()
	if s.generation != gen {
		return nil, errRevoked()
	}
	ctx, stopTimer := context.WithTimeoutCause(ctx, s.expires.Sub(a.now()), errTokenExpired)
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-revoked:
			cancel(errTokenRevoked)
		case <-ctx.Done():
		}
		cancel(nil)
		stopTimer()
	}()
	return ctx, nil
}

// Why a websocket's context ended, as context.Cause tells.
var (
	errTokenExpired = errors.New("token expired")
	errTokenRevoked = errors.New("token revoked")
)

// tokenProblem says in words why jwt refused a token.
func tokenProblem(err error) string {
	const again = "; log in again at POST /api/v1/pod/authtoken"
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token: want the auth_token from POST /api/v1/pod/authtoken"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired" + again
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token not valid yet (check the clocks)" + again
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "token signature invalid: this pod did not issue it" + again
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "token issued by another pod" + again
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing), errors.Is(err, jwt.ErrTokenInvalidClaims):
		return "token claims invalid" + again
	}
	return "invalid token" + again
}

func unauthenticated(format string, args ...any) *apiError {
	e := errorf(http.StatusUnauthorized, codeUnauthenticated, format, args...)
	e.bearer = true
	return e
}

// bearerToken returns the token of an "Authorization: Bearer <token>"
// value.
func bearerToken(v string) (string, *apiError) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", unauthenticated("unsupported Authorization header: want \"Bearer <token>\" with the auth_token from POST /api/v1/pod/authtoken")
	}
	return strings.TrimSpace(tok), nil
}

// ownerCaller returns who sent a request on the owner port: the owner
// (the member entity) with a valid token for m, anonymous without
// credentials. A bad token is an error, never anonymous. The session is
// that of the token, nil for anonymous.
func (p *Pod) ownerCaller(r *http.Request, m *membership) (contract.Caller, *session, error) {
	h := r.Header.Values("Authorization")
	if len(h) == 0 {
		return contract.Caller{Entity: contract.EntityAnonymous}, nil, nil
	}
	if len(h) > 1 {
		return contract.Caller{}, nil, unauthenticated("more than one Authorization header")
	}
	tok, aerr := bearerToken(h[0])
	if aerr != nil {
		return contract.Caller{}, nil, aerr
	}
	s, aerr := p.auth.verify(tok, m)
	if aerr != nil {
		return contract.Caller{}, nil, aerr
	}
	return contract.Caller{Entity: contract.EntityMember}, s, nil
}

// websocketInit authenticates a websocket on the owner port from its
// connection_init payload, {"Authorization": "Bearer <token>"}, since
// browsers cannot set headers on a websocket. A payload without it keeps
// the caller of the upgrade request (its Authorization header, or
// anonymous). The context it returns, the socket's, ends when the token
// expires or is revoked, which closes the socket. On the peer port the
// client certificate decides and the payload is ignored.
func (p *Pod) websocketInit(m *membership) func(ctx context.Context, payload map[string]any) (context.Context, error) {
	return func(ctx context.Context, payload map[string]any) (context.Context, error) {
		if ctx.Value(peerConnKey{}) != nil {
			return ctx, nil
		}
		var v string
		for k, val := range payload {
			if strings.EqualFold(k, "Authorization") {
				s, ok := val.(string)
				if !ok {
					return nil, errors.New("connection_init: Authorization must be a string, \"Bearer <token>\"")
				}
				v = s
			}
		}
		s, _ := ctx.Value(sessionKey{}).(*session)
		if v != "" {
			tok, aerr := bearerToken(v)
			if aerr == nil {
				s, aerr = p.auth.verify(tok, m)
			}
			if aerr != nil {
				return nil, fmt.Errorf("connection_init: %s", aerr.msg)
			}
			ctx = graphql.WithCaller(ctx, contract.Caller{Entity: contract.EntityMember})
		}
		if s == nil {
			return ctx, nil
		}
		ctx, err := p.auth.bind(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("connection_init: %w", err)
		}
		context.AfterFunc(ctx, func() {
			if cause := context.Cause(ctx); errors.Is(cause, errTokenExpired) || errors.Is(cause, errTokenRevoked) {
				p.log.InfoContext(ctx, "Closed an owner websocket", "service", m.sid, "reason", cause.Error(), "token_id", s.id)
			}
		})
		return ctx, nil
	}
}

// loginRequest is the body of POST /api/v1/pod/authtoken.
type loginRequest struct {
	Username  string  `json:"username"`
	Password  string  `json:"password"`
	ServiceID *uint32 `json:"service_id"`
}

// loginResponse is its answer.
type loginResponse struct {
	AuthToken string    `json:"auth_token"`
	TokenType string    `json:"token_type"`
	ExpiresAt time.Time `json:"expires_at"`
	ExpiresIn int64     `json:"expires_in"`
	ServiceID uint32    `json:"service_id"`
	MemberID  string    `json:"member_id"`
}

// handleAuthToken logs the owner in for one service. Each attempt takes a
// token from the client's bucket; a successful login gives it back, so
// only failures count against the limit.
func (p *Pod) handleAuthToken(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r, "POST")
	}
	client := clientKey(r.RemoteAddr)
	if wait, ok := p.auth.limiter.take(client); !ok {
		p.metrics.logins.WithLabelValues("rate_limited").Inc()
		e := errorf(http.StatusTooManyRequests, codeTooManyRequests,
			"too many failed login attempts from %s; retry in %d seconds", client, int(wait.Seconds()+0.999))
		e.retryAfter = wait
		return e
	}
	ok := false
	defer func() {
		if ok {
			p.auth.limiter.refund(client)
		}
	}()
	req, err := decodeLogin(w, r)
	if err != nil {
		p.metrics.logins.WithLabelValues("bad_request").Inc()
		return err
	}
	if !p.auth.checkPassword(req.Username, req.Password) {
		p.metrics.logins.WithLabelValues("refused").Inc()
		p.log.WarnContext(r.Context(), "Owner login refused", "client", client, "username", req.Username)
		return unauthenticated("wrong username or password: the username is the pod's account id")
	}
	ok = true
	m := p.membership(*req.ServiceID)
	if m == nil {
		return errorf(http.StatusNotFound, codeNotFound, "this pod has not joined service %d; it has joined %v", *req.ServiceID, p.serviceIDs())
	}
	tok, exp, err := p.auth.issue(m)
	if err != nil {
		return err
	}
	p.metrics.logins.WithLabelValues("ok").Inc()
	p.log.InfoContext(r.Context(), "Owner logged in", "client", client, "service", m.sid)
	return writeJSON(w, loginResponse{
		AuthToken: tok,
		TokenType: "Bearer",
		ExpiresAt: exp.UTC(),
		ExpiresIn: int64(p.auth.ttl.Seconds()),
		ServiceID: m.sid,
		MemberID:  m.memberID.String(),
	})
}

// logoutResponse is the answer of POST /api/v1/pod/logout-everywhere.
type logoutResponse struct {
	Revoked bool      `json:"revoked"`
	Since   time.Time `json:"since"`
	Message string    `json:"message"`
}

// handleLogoutEverywhere revokes every owner token, the caller's too, for
// every service, and ends the websockets opened with them. It takes a
// valid owner token for any joined service. The revocation is written to
// the data directory before it is answered, so it survives a restart.
func (p *Pod) handleLogoutEverywhere(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r, "POST")
	}
	s, err := p.anyOwner(r, "log out everywhere")
	if err != nil {
		return err
	}
	if err := p.auth.sessions.renew(revokedLogoutEverywhere); err != nil {
		return fmt.Errorf("log out everywhere: %w", err)
	}
	p.metrics.revocations.WithLabelValues(revokedLogoutEverywhere).Inc()
	p.log.InfoContext(r.Context(), "Owner logged out everywhere", "client", clientKey(r.RemoteAddr), "token_id", s.id)
	return writeJSON(w, logoutResponse{
		Revoked: true,
		Since:   p.now().UTC(),
		Message: "every owner token issued until now is revoked, for every service; log in again at POST /api/v1/pod/authtoken",
	})
}

// decodeLogin reads and checks a login request.
func decodeLogin(w http.ResponseWriter, r *http.Request) (*loginRequest, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
			return nil, errorf(http.StatusUnsupportedMediaType, codeUnsupportedType, "content type %q: want application/json", ct)
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxLoginBodyBytes))
	dec.DisallowUnknownFields()
	var req loginRequest
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, err
		}
		return nil, errorf(http.StatusBadRequest, codeBadRequest,
			`invalid login request: %v; want {"username": "<account id>", "password": "...", "service_id": <service id>}`, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errorf(http.StatusBadRequest, codeBadRequest, "invalid login request: data after the JSON object")
	}
	var missing []string
	if req.Username == "" {
		missing = append(missing, "username")
	}
	if req.Password == "" {
		missing = append(missing, "password")
	}
	if req.ServiceID == nil {
		missing = append(missing, "service_id")
	}
	if len(missing) > 0 {
		return nil, errorf(http.StatusBadRequest, codeBadRequest, "invalid login request: missing %s", strings.Join(missing, ", "))
	}
	return &req, nil
}

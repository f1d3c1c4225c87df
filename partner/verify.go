package partner

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
)

// MaxSkew is how far a request timestamp may be from the server's clock,
// either way.
const MaxSkew = 300 * time.Second

// Nonce length bounds, in characters.
const (
	MinNonceLen = 16
	MaxNonceLen = 128
)

// pruneEvery is how often a process deletes nonces whose window has ended.
const pruneEvery = time.Minute

// Verify checks a signed partner request (DESIGN.md signature scheme) and
// that the partner holds scope, before anything uses the body. It returns
// the partner id, or an *oc.Error whose code says what was wrong, checked
// in this order:
//
//   - EMissingAuth: a header is missing, repeated or malformed (the nonce
//     must be 16–128 characters of [A-Za-z0-9._~+/=-], the signature 64
//     lowercase hex digits, the timestamp decimal unix seconds);
//   - EStaleTimestamp: the timestamp is more than MaxSkew away;
//   - EUnknownPartner: no partner has that id;
//   - EInvalidSignature: no currently valid secret of the partner produces
//     the signature (each is compared in constant time);
//   - EPartnerSuspended: the partner is suspended (see Suspend). Only a
//     correctly signed request learns it; nothing is recorded, not even
//     the nonce. The status is read again at every request of a suspended
//     partner, and the nonce is recorded only if the partner is still
//     active in that transaction, so a suspension or reinstatement made by
//     any process applies to the next request;
//   - ENonceReused: the nonce was already used by a verified request whose
//     timestamp is still inside the window. The nonce is recorded only once
//     the signature is verified, so nobody can burn another's nonces; the
//     record is a unique row, so the check holds across processes;
//   - EMissingScope: the partner does not hold scope ("" skips the check).
//
// Verify implements web.PartnerAuth. It writes (the nonce) outside any
// transaction, so it must not be called inside a write transaction: on
// SQLite that one writer connection is what it waits for.
func (s *Service) Verify(ctx context.Context, method, pathWithQuery string, h http.Header, body []byte, scope string) (string, error) {
	id, n, err := s.verify(ctx, method, pathWithQuery, h, body)
	if err != nil {
		return "", err
	}
	if err := s.useNonce(ctx, id, n.nonce, n.now, n.expires); err != nil {
		return "", err
	}
	if err := n.p.checkScope(scope); err != nil {
		return "", err
	}
	return id, nil
}

// VerifyDeferred is Verify without recording the nonce: the caller
// records the returned claim with ClaimNoncesTx in the transaction,
// committed before answering, that precedes or holds the request's own
// writes, so one group commit serves both (and one statement the nonces
// of all its requests). The checks and their codes are Verify's,
// except that EMissingScope is checked before the nonce, by this call,
// and ENonceReused comes from the claim. A request refused before its
// claim ran changes nothing, so its nonce need not be kept.
func (s *Service) VerifyDeferred(ctx context.Context, method, pathWithQuery string, h http.Header, body []byte, scope string) (string, NonceClaim, error) {
	id, n, err := s.verify(ctx, method, pathWithQuery, h, body)
	if err != nil {
		return "", NonceClaim{}, err
	}
	if err := n.p.checkScope(scope); err != nil {
		return "", NonceClaim{}, err
	}
	// Pruning writes on its own, so it runs here, outside any
	// transaction, not in the claim.
	s.maybePrune(ctx, n.now)
	return id, NonceClaim{partner: id, nonce: n.nonce, now: n.now, expires: n.expires}, nil
}

// verified is a request whose signature checked, with its nonce not yet
// recorded.
type verified struct {
	p            *Partner
	nonce        string
	now, expires time.Time
}

// verify runs Verify's checks up to the signature.
func (s *Service) verify(ctx context.Context, method, pathWithQuery string, h http.Header, body []byte) (string, verified, error) {
	id, ok := header(h, HeaderPartner)
	if !ok || !ValidID(id) {
		return "", verified{}, missing(HeaderPartner, "a partner id")
	}
	tsText, ok := header(h, HeaderTimestamp)
	if !ok || !digits(tsText, 1, 12) {
		return "", verified{}, missing(HeaderTimestamp, "unix seconds")
	}
	nonce, ok := header(h, HeaderNonce)
	if !ok || !validNonce(nonce) {
		return "", verified{}, missing(HeaderNonce, fmt.Sprintf("%d to %d characters of [A-Za-z0-9._~+/=-]", MinNonceLen, MaxNonceLen))
	}
	sigText, ok := header(h, HeaderSignature)
	if !ok || len(sigText) != 64 || !lowerHex(sigText) {
		return "", verified{}, missing(HeaderSignature, "64 lowercase hex digits")
	}
	sig, _ := hex.DecodeString(sigText)

	now := s.db.Now()
	ts, _ := strconv.ParseInt(tsText, 10, 64)
	sent := time.Unix(ts, 0)
	if d := now.Unix() - ts; d > int64(MaxSkew/time.Second) || d < -int64(MaxSkew/time.Second) {
		return "", verified{}, oc.Errorf(oc.EStaleTimestamp, "%s is more than %d s away from the server time %d", HeaderTimestamp, int(MaxSkew/time.Second), now.Unix())
	}

	p, secrets, err := s.secrets(ctx, id)
	if err != nil {
		return "", verified{}, err
	}
	if p == nil {
		return "", verified{}, oc.Errorf(oc.EUnknownPartner, "partner %q is not registered", id)
	}
	good := false
	for _, k := range secrets {
		if !k.validAt(now) {
			continue
		}
		if hmac.Equal(mac(k.secret, method, pathWithQuery, tsText, nonce, body), sig) {
			good = true
		}
	}
	if !good {
		return "", verified{}, oc.Errorf(oc.EInvalidSignature, "signature does not match (sign METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nhex(SHA256(body)) with your current secret)")
	}
	if !p.Active() {
		return "", verified{}, suspended(id)
	}
	// The skew check compares whole seconds, so the timestamp is accepted
	// until the end of second ts+MaxSkew: the nonce must live that long.
	expires := sent.Add(MaxSkew + time.Second)
	if expires.Before(now) {
		expires = now
	}
	return id, verified{p: p, nonce: nonce, now: now, expires: expires}, nil
}

// checkScope refuses a partner without scope ("" skips the check).
func (p *Partner) checkScope(scope string) error {
	if scope != "" && !p.HasScope(scope) {
		return oc.Errorf(oc.EMissingScope, "partner %q does not hold scope %s", p.ID, scope)
	}
	return nil
}

func (s *Service) maybePrune(ctx context.Context, now time.Time) {
	s.mu.Lock()
	due := now.Sub(s.lastPrune) >= pruneEvery
	if due {
		s.lastPrune = now
	}
	s.mu.Unlock()
	if due {
		// A failed prune only leaves rows for the next one.
		_, _ = s.PruneNonces(context.WithoutCancel(ctx))
	}
}

// PruneNonces deletes nonce records whose window has ended and returns how
// many it deleted. Verify calls it about once a minute per process.
func (s *Service) PruneNonces(ctx context.Context) (int64, error) {
	res, err := s.db.Write().ExecContext(ctx, `DELETE FROM partner_nonces WHERE expires_at < $1`, store.Micros(s.db.Now()))
	if err != nil {
		return 0, fmt.Errorf("prune nonces: %w", err)
	}
	return res.RowsAffected()
}

func suspended(id string) error {
	return oc.Errorf(oc.EPartnerSuspended, "partner %q is suspended; ask the OpenCarbon operators to reinstate it", id)
}

func missing(name, want string) error {
	return oc.Errorf(oc.EMissingAuth, "signed partner calls need exactly one %s header: %s", name, want)
}

// header returns the single value of name; a repeated header is refused.
func header(h http.Header, name string) (string, bool) {
	v := h.Values(name)
	if len(v) != 1 || v[0] == "" {
		return "", false
	}
	return v[0], true
}

func digits(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func validNonce(s string) bool {
	if len(s) < MinNonceLen || len(s) > MaxNonceLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == '~', c == '+', c == '/', c == '=', c == '-':
		default:
			return false
		}
	}
	return true
}

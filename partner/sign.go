package partner

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"
)

// Request headers of the signature scheme (DESIGN.md).
const (
	HeaderPartner   = "X-OC-Partner"
	HeaderTimestamp = "X-OC-Timestamp"
	HeaderNonce     = "X-OC-Nonce"
	HeaderSignature = "X-OC-Signature"
)

// Sign returns the lowercase hex HMAC-SHA256, keyed with secret (the
// secret string exactly as issued), of
//
//	METHOD + "\n" + PATH + "\n" + TIMESTAMP + "\n" + NONCE + "\n" + hex(SHA256(body))
//
// where PATH is the request path with its query string exactly as sent and
// TIMESTAMP is ts in decimal unix seconds.
func Sign(secret, method, pathWithQuery string, ts int64, nonce string, body []byte) string {
	return hex.EncodeToString(mac(secret, method, pathWithQuery, strconv.FormatInt(ts, 10), nonce, body))
}

// SignRequest sets the four signature headers on r for partnerID, with the
// current time and a fresh random nonce. body must be the exact bytes r
// will send; the path signed is r.URL.RequestURI().
func SignRequest(r *http.Request, partnerID, secret string, body []byte) {
	ts := time.Now().Unix()
	nonce := NewNonce()
	r.Header.Set(HeaderPartner, partnerID)
	r.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	r.Header.Set(HeaderNonce, nonce)
	r.Header.Set(HeaderSignature, Sign(secret, r.Method, r.URL.RequestURI(), ts, nonce, body))
}

// NewNonce returns 16 random bytes as 32 hex characters.
func NewNonce() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// mac computes the raw signature; ts is the timestamp text as sent.
func mac(secret, method, pathWithQuery, ts, nonce string, body []byte) []byte {
	sum := sha256.Sum256(body)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(method))
	m.Write([]byte{'\n'})
	m.Write([]byte(pathWithQuery))
	m.Write([]byte{'\n'})
	m.Write([]byte(ts))
	m.Write([]byte{'\n'})
	m.Write([]byte(nonce))
	m.Write([]byte{'\n'})
	var hx [64]byte
	hex.Encode(hx[:], sum[:])
	m.Write(hx[:])
	return m.Sum(nil)
}

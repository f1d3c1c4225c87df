package honor

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
)

// JSON-LD contexts of an Open Badges 3.0 credential (VC Data Model 2.0).
const (
	ContextVC = "https://www.w3.org/ns/credentials/v2"
	ContextOB = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
)

// DeriveIssuerKey derives the platform's Ed25519 credential-signing key
// from the server's secret key (HMAC-SHA256 with a fixed label as the
// seed), so every server of one deployment signs with the same key and
// nothing new must be stored or backed up. Rotating the secret key rotates
// this key; credentials signed before stay verifiable with the old public
// key, which the holder should keep beside them.
func DeriveIssuerKey(secret []byte) ed25519.PrivateKey {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("opencarbon/honor/issuer-key/v1"))
	return ed25519.NewKeyFromSeed(m.Sum(nil))
}

// JWK is a public key in JSON Web Key form (RFC 8037, OKP/Ed25519).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// PublicJWK returns pub as a JWK whose kid is its RFC 7638 thumbprint.
func PublicJWK(pub ed25519.PublicKey) JWK {
	x := base64.RawURLEncoding.EncodeToString(pub)
	// RFC 7638: members crv, kty, x in lexicographic order, no spaces.
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return JWK{Kty: "OKP", Crv: "Ed25519", X: x, Kid: base64.RawURLEncoding.EncodeToString(sum[:]), Alg: "EdDSA", Use: "sig"}
}

// ParseJWK returns the Ed25519 public key of j. Errors: EInvalid.
func ParseJWK(j JWK) (ed25519.PublicKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(j.X)
	if j.Kty != "OKP" || j.Crv != "Ed25519" || err != nil || len(b) != ed25519.PublicKeySize {
		return nil, oc.Errorf(oc.EInvalid, "not an Ed25519 JWK")
	}
	return ed25519.PublicKey(b), nil
}

// Profile is an Open Badges issuer profile.
type Profile struct {
	ID   string   `json:"id"`
	Type []string `json:"type"`
	Name string   `json:"name"`
}

// IssuerDocument is what GET /.well-known/opencarbon-issuer.json
// publishes: the issuer profile and its public key, enough to verify any
// credential offline.
type IssuerDocument struct {
	Issuer Profile `json:"issuer"`
	Keys   []JWK   `json:"keys"`
}

// Issuer returns the issuer document for issuerID (the deployment's base
// URL).
func (s *Service) Issuer(issuerID string) IssuerDocument {
	return IssuerDocument{
		Issuer: Profile{ID: issuerID, Type: []string{"Profile"}, Name: s.cfg.IssuerName},
		Keys:   []JWK{PublicJWK(s.cfg.Key.Public().(ed25519.PublicKey))},
	}
}

// Credential is an OpenBadgeCredential (Open Badges 3.0 on the VC Data
// Model 2.0).
type Credential struct {
	Context           []string           `json:"@context"`
	ID                string             `json:"id"`
	Type              []string           `json:"type"`
	Issuer            Profile            `json:"issuer"`
	ValidFrom         string             `json:"validFrom"`
	Name              string             `json:"name"`
	CredentialSubject AchievementSubject `json:"credentialSubject"`
}

// AchievementSubject is the holder and what they achieved. The holder is
// identified only by a salted SHA-256 of their person id.
type AchievementSubject struct {
	Type        []string         `json:"type"`
	Identifier  []IdentityObject `json:"identifier"`
	Achievement Achievement      `json:"achievement"`
}

// IdentityObject is a hashed identifier of the holder.
type IdentityObject struct {
	Type         string `json:"type"`
	IdentityHash string `json:"identityHash"`
	IdentityType string `json:"identityType"`
	Hashed       bool   `json:"hashed"`
	Salt         string `json:"salt"`
}

// Achievement is the medal as an Open Badges achievement.
type Achievement struct {
	ID              string            `json:"id"`
	Type            []string          `json:"type"`
	AchievementType string            `json:"achievementType"`
	Name            string            `json:"name"`
	Description     string            `json:"description"`
	Criteria        map[string]string `json:"criteria"`
	Image           map[string]string `json:"image,omitempty"`
	Language        string            `json:"inLanguage,omitempty"`
}

// IssueCredential returns account's medal medalID as a signed VC-JWT
// (compact JWS, EdDSA over Ed25519, header typ "vc+jwt", payload the
// OpenBadgeCredential). person is hashed with a random salt into the
// subject. issuerID is the deployment's base URL. Errors: ENotFound (the
// account does not hold the medal).
func (s *Service) IssueCredential(ctx context.Context, account int64, person, medalID, issuerID string) (string, error) {
	var at int64
	err := s.db.Read().QueryRowContext(ctx, `SELECT awarded_at FROM honor_medals WHERE account_id = $1 AND medal_id = $2`, account, medalID).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return "", oc.Errorf(oc.ENotFound, "you do not hold medal %q", medalID)
	}
	if err != nil {
		return "", fmt.Errorf("credential: %w", err)
	}
	cat, err := s.Catalog(ctx)
	if err != nil {
		return "", err
	}
	m := Medal{ID: medalID, NameZH: medalID, NameEN: medalID}
	for _, c := range cat {
		if c.ID == medalID {
			m = c
		}
	}
	var salt, jti [16]byte
	rand.Read(salt[:])
	rand.Read(jti[:])
	saltHex := hex.EncodeToString(salt[:])
	h := sha256.Sum256([]byte(person + saltHex))
	issuerID = strings.TrimRight(issuerID, "/")
	c := Credential{
		Context:   []string{ContextVC, ContextOB},
		ID:        "urn:uuid:" + uuidOf(jti),
		Type:      []string{"VerifiableCredential", "OpenBadgeCredential"},
		Issuer:    Profile{ID: issuerID, Type: []string{"Profile"}, Name: s.cfg.IssuerName},
		ValidFrom: store.Time(at).Format(time.RFC3339),
		Name:      m.NameEN + " · " + m.NameZH,
		CredentialSubject: AchievementSubject{
			Type:       []string{"AchievementSubject"},
			Identifier: []IdentityObject{{Type: "IdentityObject", IdentityHash: "sha256$" + hex.EncodeToString(h[:]), IdentityType: "identifier", Hashed: true, Salt: saltHex}},
			Achievement: Achievement{
				ID: issuerID + "/v1/medals/" + m.ID, Type: []string{"Achievement"}, AchievementType: "Badge",
				Name: m.NameEN + " · " + m.NameZH, Description: "OpenCarbon medal " + m.ID + ": " + m.NameEN + " (" + m.NameZH + ")",
				Criteria: map[string]string{"narrative": "Awarded by the rule: " + m.Rule},
			},
		},
	}
	if m.Artwork != "" {
		c.CredentialSubject.Achievement.Image = map[string]string{"id": issuerID + m.Artwork, "type": "Image"}
	}
	return SignCredential(c, s.cfg.Key)
}

func uuidOf(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b[:])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

type jwsHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Cty string `json:"cty,omitempty"`
	Kid string `json:"kid,omitempty"`
}

// SignCredential signs c as a compact JWS with key.
func SignCredential(c Credential, key ed25519.PrivateKey) (string, error) {
	kid := PublicJWK(key.Public().(ed25519.PublicKey)).Kid
	hb, _ := json.Marshal(jwsHeader{Alg: "EdDSA", Typ: "vc+jwt", Cty: "vc", Kid: kid})
	pb, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("credential: %w", err)
	}
	in := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(pb)
	return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(in))), nil
}

// VerifyCredential checks a VC-JWT against the issuer's public key
// offline and returns the credential. Errors: EInvalid (malformed, wrong
// algorithm, bad signature, or not an OpenBadgeCredential).
func VerifyCredential(jws string, pub ed25519.PublicKey) (*Credential, error) {
	bad := func(why string) error { return oc.Errorf(oc.EInvalid, "credential is not valid: %s", why) }
	if len(pub) != ed25519.PublicKeySize {
		return nil, bad("public key is not Ed25519")
	}
	if len(jws) > 1<<20 {
		return nil, bad("too large")
	}
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		return nil, bad("not a compact JWS")
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	pb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, bad("not base64url")
	}
	var h jwsHeader
	if err := json.Unmarshal(hb, &h); err != nil || h.Alg != "EdDSA" {
		return nil, bad("algorithm must be EdDSA")
	}
	if !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) {
		return nil, bad("signature does not verify")
	}
	var c Credential
	if err := json.Unmarshal(pb, &c); err != nil {
		return nil, bad("payload is not a credential")
	}
	if len(c.Context) < 2 || c.Context[0] != ContextVC || !slices.Contains(c.Context, ContextOB) ||
		!slices.Contains(c.Type, "VerifiableCredential") || !slices.Contains(c.Type, "OpenBadgeCredential") {
		return nil, bad("not an OpenBadgeCredential")
	}
	return &c, nil
}

package partner

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
)

// newSecret returns 32 random bytes, hex encoded. The HMAC key of a
// partner is this 64-character string itself (its ASCII bytes).
func newSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// aad binds a sealed secret to its row, so a ciphertext copied to another
// partner or version does not open.
func aad(partner string, version int64) []byte {
	return []byte("opencarbon partner secret\x00" + partner + "\x00" + strconv.FormatInt(version, 10))
}

// seal encrypts secret with AES-256-GCM under key: base64(nonce || ciphertext).
func seal(key []byte, secret string, ad []byte) (string, error) {
	g, err := gcm(key)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, g.NonceSize(), g.NonceSize()+len(secret)+g.Overhead())
	rand.Read(nonce)
	return base64.StdEncoding.EncodeToString(g.Seal(nonce, nonce, []byte(secret), ad)), nil
}

// open decrypts what seal returned. It fails when the key is not the one
// that sealed it (wrong --secret-key-file) or the row was tampered with.
func open(key []byte, sealed string, ad []byte) (string, error) {
	g, err := gcm(key)
	if err != nil {
		return "", err
	}
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(b) < g.NonceSize()+g.Overhead() {
		return "", fmt.Errorf("partner secret: malformed ciphertext")
	}
	pt, err := g.Open(nil, b[:g.NonceSize()], b[g.NonceSize():], ad)
	if err != nil {
		return "", fmt.Errorf("partner secret: cannot decrypt (is the secret key the one the database was created with?)")
	}
	return string(pt), nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("partner secret key: %w", err)
	}
	return cipher.NewGCM(blk)
}

package firmware

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lawfleet/fleet/fleet"
)

// Image is one uploaded firmware image for one device model. Images are
// immutable: a fix is a new version.
type Image struct {
	ID           string    `json:"id"`
	Model        string    `json:"model"`
	Version      string    `json:"version"`
	SizeBytes    int64     `json:"size_bytes"`
	SHA256       string    `json:"sha256"`    // lower-case hex of the image bytes
	Signature    string    `json:"signature"` // base64 ed25519 over SignedMessage
	KeyID        string    `json:"key_id"`    // KeyID of the public key that verifies it
	ReleaseNotes string    `json:"release_notes"`
	UploadedBy   string    `json:"uploaded_by"`
	UploadedAt   time.Time `json:"uploaded_at"`
}

// SignedMessage is what an image's signature covers. Binding the model and
// version stops a genuine image of one model being pushed to another, or an
// old vulnerable version being replayed as a new one.
func SignedMessage(model, version string, sizeBytes int64, sha256Hex string) []byte {
	return []byte("lawfleet-firmware-v1\n" + model + "\n" + version + "\n" +
		strconv.FormatInt(sizeBytes, 10) + "\n" + strings.ToLower(sha256Hex) + "\n")
}

// Sign signs an image's manifest; it returns the base64 signature.
func Sign(key ed25519.PrivateKey, model, version string, sizeBytes int64, sha256Hex string) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, SignedMessage(model, version, sizeBytes, sha256Hex)))
}

// Verify checks a base64 signature of an image's manifest against pub.
func Verify(pub ed25519.PublicKey, model, version string, sizeBytes int64, sha256Hex, signature string) bool {
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(sig) != ed25519.SignatureSize || len(pub) != ed25519.PublicKeySize {
		return false
	}
	return ed25519.Verify(pub, SignedMessage(model, version, sizeBytes, sha256Hex), sig)
}

// KeyID names a public key: the first 8 bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Keys are the service's signing key (nil when images are signed offline
// only) and the public keys it trusts. Devices are given the matching
// public key at manufacture; the service never ships a key to them.
type Keys struct {
	Signer  ed25519.PrivateKey
	Trusted []ed25519.PublicKey // the signer's public key is always trusted
}

// trusted returns the key that verifies an image's signature, if any.
func (k *Keys) trusted(model, version string, size int64, sum, signature string) (ed25519.PublicKey, bool) {
	if k == nil {
		return nil, false
	}
	keys := k.Trusted
	if k.Signer != nil {
		keys = append([]ed25519.PublicKey{k.Signer.Public().(ed25519.PublicKey)}, keys...)
	}
	for _, pub := range keys {
		if Verify(pub, model, version, size, sum, signature) {
			return pub, true
		}
	}
	return nil, false
}

// PublicKeys returns the trusted public keys, the signer's first.
func (k *Keys) PublicKeys() []ed25519.PublicKey {
	if k == nil {
		return nil
	}
	var out []ed25519.PublicKey
	if k.Signer != nil {
		out = append(out, k.Signer.Public().(ed25519.PublicKey))
	}
	return append(out, k.Trusted...)
}

// LoadOrCreateSigningKey reads the PKCS#8 PEM ed25519 key at path, or
// generates one and writes it there (mode 0600) on first start.
func LoadOrCreateSigningKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("firmware: generate signing key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("firmware: encode signing key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("firmware: %w", err)
		}
		// O_EXCL: two processes starting at once must not each write a key.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return LoadOrCreateSigningKey(path)
		} else if err != nil {
			return nil, fmt.Errorf("firmware: write signing key: %w", err)
		}
		if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
			f.Close()
			return nil, fmt.Errorf("firmware: write signing key: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("firmware: write signing key: %w", err)
		}
		return key, nil
	} else if err != nil {
		return nil, fmt.Errorf("firmware: read signing key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("firmware: %s is not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("firmware: parse signing key %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("firmware: %s is not an ed25519 key", path)
	}
	return key, nil
}

// ParsePublicKey reads an ed25519 public key given as PEM (PKIX), or as
// the base64 or hex of its 32 bytes, as an offline signing tool prints it.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if blk, _ := pem.Decode([]byte(s)); blk != nil {
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("firmware: parse public key: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, errors.New("firmware: not an ed25519 public key")
		}
		return pub, nil
	}
	for _, dec := range []func(string) ([]byte, error){base64.StdEncoding.DecodeString, hex.DecodeString} {
		if b, err := dec(s); err == nil && len(b) == ed25519.PublicKeySize {
			return ed25519.PublicKey(b), nil
		}
	}
	return nil, errors.New("firmware: public key is neither PEM nor 32 bytes of base64 or hex")
}

// ImageInput describes an upload. Signature is the offline key's, or
// empty for the service to sign; SHA256, when given, is what the uploader
// took of the file, and the upload is refused if the bytes differ.
type ImageInput struct {
	Model        string `json:"model"`
	Version      string `json:"version"`
	ReleaseNotes string `json:"release_notes"`
	Signature    string `json:"signature"`
	SHA256       string `json:"sha256"`
}

// Error codes of refused images, as the message prefix inside fleet's
// vocabulary (like fleet.EHASHMISMATCH), so the HTTP layer maps them once.
const (
	EBadSignature = "bad_signature"
	EHashMismatch = fleet.EHASHMISMATCH
)

func badSignature(format string, args ...any) error {
	return &fleet.Error{Code: fleet.EINVALID, Field: "signature", Message: EBadSignature + ": " + fmt.Sprintf(format, args...)}
}

func hashMismatch(declared, got string) error {
	return &fleet.Error{Code: fleet.EINVALID, Field: "sha256",
		Message: fmt.Sprintf("%s: the file hashes to %s, not the declared %s", EHashMismatch, got, declared)}
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// LoadTrustedKeys reads the offline signing keys' public halves from path:
// PEM blocks, or one base64 or hex key per line ('#' starts a comment). A
// missing file is no keys.
func LoadTrustedKeys(path string) ([]ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("firmware: read trusted keys: %w", err)
	}
	var keys []ed25519.PublicKey
	rest := b
	for {
		blk, r := pem.Decode(rest)
		if blk == nil {
			break
		}
		k, err := ParsePublicKey(string(pem.EncodeToMemory(blk)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		keys, rest = append(keys, k), r
	}
	for _, line := range strings.Split(string(rest), "\n") {
		if line, _, _ = strings.Cut(line, "#"); strings.TrimSpace(line) == "" {
			continue
		}
		k, err := ParsePublicKey(line)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}
